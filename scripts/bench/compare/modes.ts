/** The modes `--compare` runs, in the order of its report, with their labels and colours in its chart. */

export const compareModes = [
  "raw",
  "raw-pipelined",
  "effect-floor",
  "effect-floor-pipelined",
  "uncontended",
  "go",
  "raw-contended",
  "contended"
] as const
export type CompareMode = (typeof compareModes)[number]
export const modeLabel: Record<CompareMode, string> = {
  raw: "raw (node:net)",
  "raw-pipelined": "raw, pipelined",
  "effect-floor": "Effect floor",
  "effect-floor-pipelined": "Effect floor, pipelined",
  uncontended: "ours (effect-dflockd)",
  go: "go (cmd/bench)",
  "raw-contended": "raw, one key",
  contended: "ours, one key"
}
export const modeColor: Record<CompareMode, string> = {
  raw: "#6b7280",
  "raw-pipelined": "#111827",
  "effect-floor": "#a855f7",
  "effect-floor-pipelined": "#6b21a8",
  uncontended: "#2563eb",
  go: "#16a34a",
  "raw-contended": "#d1d5db",
  contended: "#93c5fd"
}
