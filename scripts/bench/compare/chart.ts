/** `--compare`'s chart, `compare.svg`: throughput and latency by worker count, one line per mode. */
import { COMPARE_WORKERS } from "../config.ts"
import { escapeXml, panel, type Series } from "../line-chart.ts"
import type { HeldOutcome } from "./held.ts"
import type { Cell } from "./matrix.ts"
import { type CompareMode, modeColor, modeLabel } from "./modes.ts"

/** What the chart draws and says beneath it. */
export interface ChartInput {
  readonly modes: ReadonlyArray<CompareMode>
  readonly cell: (mode: CompareMode, workers: number) => Cell | undefined
  readonly repeats: number
  /** Whether the Go client's bench was found (otherwise the throughput panel says it is not plotted). */
  readonly goAvailable: boolean
  readonly held: HeldOutcome
  readonly serverDesc: string
  readonly roundsDesc: string
  readonly machine: string
  readonly load: string
}

export const compareChart = (input: ChartInput): string => {
  const { cell, held, load, machine, modes, repeats, roundsDesc, serverDesc } = input
  const plotted = modes.map((m) => ({ mode: m, cells: COMPARE_WORKERS.map((w) => cell(m, w)) }))
  const throughputSeries: Array<Series> = plotted.map(({ cells: cs, mode }) => ({
    name: modeLabel[mode],
    color: modeColor[mode],
    dash: false,
    values: cs.map((c) => c?.throughput)
  }))
  // one legend row per mode: the p99 line (dashed) shares its p50 line's colour
  const latencySeries: Array<Series> = plotted.flatMap(({ cells: cs, mode }) => [
    { name: modeLabel[mode], color: modeColor[mode], dash: false, values: cs.map((c) => c?.p50_ms) },
    { name: "", color: modeColor[mode], dash: true, values: cs.map((c) => c?.p99_ms) }
  ])
  const width = 1000
  const height = 440
  const goNote: ReadonlyArray<string> = input.goAvailable ? [] : ["go (cmd/bench): unavailable, not plotted"]
  const heldNote = held.ok
    ? `Heap per held lock: ${held.summary.heap_bytes_per_lock} B (RSS ${held.summary.rss_bytes_per_lock} B), ${held.summary.locks} Lock.withLock regions held at once, each in its own fiber, sockets included.`
    : "Heap per held lock: not measured."
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + 56}" viewBox="0 0 ${width} ${
      height + 56
    }" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    panel(
      0,
      0,
      width / 2,
      height,
      `Throughput (median of ${repeats})`,
      "acquire+release per second",
      COMPARE_WORKERS,
      throughputSeries,
      goNote
    ),
    panel(
      width / 2,
      0,
      width / 2,
      height,
      "Latency per op: p50 (solid), p99 (dashed)",
      "milliseconds",
      COMPARE_WORKERS,
      latencySeries
    ),
    `<text x="${width / 2}" y="${height + 12}" text-anchor="middle" font-size="11" fill="#4b5563">${
      escapeXml(`Server: ${serverDesc}. Uncontended, ${roundsDesc}, median of ${repeats} runs.`)
    }</text>`,
    `<text x="${width / 2}" y="${height + 28}" text-anchor="middle" font-size="11" fill="#4b5563">${
      escapeXml(heldNote)
    }</text>`,
    `<text x="${width / 2}" y="${height + 44}" text-anchor="middle" font-size="11" fill="#4b5563">${
      escapeXml(`Machine: ${machine}. ${load}.`)
    }</text>`,
    `</svg>`,
    ""
  ].join("\n")
}
