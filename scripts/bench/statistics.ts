/** Statistics of the figures: a run's summary (percentiles, mean, throughput), medians, ratios. */

/** The JSON line every run ends with (`--json`). */
export interface Summary {
  readonly mode: string
  readonly workers: number
  readonly rounds: number
  readonly ops: number
  readonly throughput: number
  readonly mean_ms: number
  readonly p50_ms: number
  readonly p99_ms: number
}

export const round = (n: number, digits: number) => Number(n.toFixed(digits))

/** Linear interpolation between closest ranks (as dflockd's Go bench). */
const percentile = (sorted: Float64Array, pct: number): number => {
  if (sorted.length === 0) return Number.NaN
  const rank = (pct / 100) * (sorted.length - 1)
  const lo = Math.floor(rank)
  const hi = Math.min(lo + 1, sorted.length - 1)
  const frac = rank - lo
  return sorted[lo]! * (1 - frac) + sorted[hi]! * frac
}

export const summarize = (
  mode: string,
  workers: number,
  rounds: number,
  latencies: Float64Array,
  wallMs: number
): Summary => {
  const sorted = Float64Array.from(latencies).sort()
  let sum = 0
  for (const v of sorted) sum += v
  return {
    mode,
    workers,
    rounds,
    ops: sorted.length,
    throughput: round(sorted.length / (wallMs / 1000), 1),
    mean_ms: round(sum / sorted.length, 3),
    p50_ms: round(percentile(sorted, 50), 3),
    p99_ms: round(percentile(sorted, 99), 3)
  }
}

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export const medianOf = (values: ReadonlyArray<number | undefined>): number | undefined => {
  const defined = values.filter((v): v is number => v !== undefined)
  return defined.length === 0 ? undefined : median(defined)
}

/** `a / b` to two decimals; undefined when either is missing or `b` is 0. */
export const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || b === 0 ? undefined : round(a / b, 2)
