/**
 * `--compare`: raw, the floors, ours and the Go client at 1, 10 and 50 workers on one server, then the
 * held-lock figure; writes `compare.{md,json,svg}`.
 */
import { writeFileSync } from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { describeServer, startServer } from "../../dflockd-server.ts"
import type { Args } from "../cli.ts"
import { COMPARE_OPS, COMPARE_WORKERS } from "../config.ts"
import { ensureGoBench } from "../external-tools.ts"
import { mib } from "../format.ts"
import { root } from "../paths.ts"
import { compareChart } from "./chart.ts"
import { measureHeld } from "./held.ts"
import { type Cell, cellKey, measureMatrix, roundsPerWorker } from "./matrix.ts"
import { type CompareMode, compareModes } from "./modes.ts"
import { compareMarkdown, compareTables, heldSentence } from "./report.ts"
import { writeResults } from "./results.ts"
import { compareRows } from "./rows.ts"

export const compare = async (args: Args): Promise<number> => {
  const roundsFor = roundsPerWorker(args)
  const roundsDesc = args.roundsGiven
    ? `${args.rounds} rounds per worker`
    : `${COMPARE_OPS} timed ops per run (${COMPARE_WORKERS.map(roundsFor).join("/")} rounds per worker)`
  const started = performance.now()
  const loadBefore = Os.loadavg()
  const go = ensureGoBench()
  if (!go.ok) console.log(`go client unavailable: ${go.reason}`)
  const modes: ReadonlyArray<CompareMode> = go.ok
    ? compareModes
    : compareModes.filter((mode) => mode !== "go")
  const server = await startServer({ "default-lease-ttl": 33 })
  const described = await describeServer(server)
  let cells: Map<string, Cell>
  try {
    console.log(
      `compare: server ${server.address} (${described.label}, ${described.binary}), ` +
        `${args.repeats} repeats x workers ${COMPARE_WORKERS.join("/")} x ${modes.join("/")}, ${roundsDesc}`
    )
    cells = await measureMatrix(args, modes, server.address, roundsFor)
  } finally {
    await server.stop()
  }
  const held = await measureHeld(args)
  if (!held.ok) console.log(`compare: no held-lock figure: ${held.reason}`)
  const cell = (mode: CompareMode, workers: number) => cells.get(cellKey(mode, workers))
  const rows = compareRows(cell)

  const cpus = Os.cpus()
  const machine = `${cpus.length} x ${cpus[0]?.model.trim() ?? "unknown CPU"}, ${
    mib(Os.totalmem())
  } RAM, ${Os.type()} ${Os.release()}, Node ${process.version}`
  const serverDesc = `${described.label} on loopback, same machine`
  const goDesc = go.ok ? `the Go client's cmd/bench (${go.path})` : `unavailable: ${go.reason}`
  const tables = compareTables(rows)
  const heldLine = heldSentence(held)
  const elapsed = (performance.now() - started) / 1000
  const loadAfter = Os.loadavg()
  const load = `1-min load average ${loadBefore[0]!.toFixed(2)} before, ${
    loadAfter[0]!.toFixed(2)
  } after (${cpus.length} CPUs; includes this run)`
  const markdown = compareMarkdown(args, { roundsDesc, elapsed, machine, serverDesc, goDesc, load }, tables, heldLine)

  writeResults(args.out, "compare", markdown, {
    machine,
    server: serverDesc,
    go: goDesc,
    load,
    rounds: Object.fromEntries(COMPARE_WORKERS.map((w) => [String(w), roundsFor(w)])),
    warmup: args.warmup,
    repeats: args.repeats,
    date: new Date().toISOString(),
    rows,
    held: held.ok ? held.summary : { error: held.reason }
  })
  const svg = compareChart({
    modes,
    cell,
    repeats: args.repeats,
    goAvailable: go.ok,
    held,
    serverDesc,
    roundsDesc,
    machine,
    load
  })
  writeFileSync(Path.join(args.out, "compare.svg"), svg)

  console.log(`\n${tables}\n\n${heldLine}\n`)
  console.log(`wrote ${Path.relative(root, args.out) || "."}/compare.{md,json,svg} (${elapsed.toFixed(0)} s)`)
  return held.ok && held.summary.ok ? 0 : 1
}
