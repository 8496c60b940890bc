/** The rows of `--compare`'s report: per worker count, each mode's cell and the ratios between them. */
import { COMPARE_WORKERS } from "../config.ts"
import { ratio } from "../statistics.ts"
import type { Cell } from "./matrix.ts"
import type { CompareMode } from "./modes.ts"

export const compareRows = (cell: (mode: CompareMode, workers: number) => Cell | undefined) =>
  COMPARE_WORKERS.map((workers) => {
    const raw = cell("raw", workers)
    const rawPipelined = cell("raw-pipelined", workers)
    const floor = cell("effect-floor", workers)
    const floorPipelined = cell("effect-floor-pipelined", workers)
    const ours = cell("uncontended", workers)
    const goCell = cell("go", workers)
    const rawContended = cell("raw-contended", workers)
    const contended = cell("contended", workers)
    return {
      workers,
      raw,
      raw_pipelined: rawPipelined,
      floor,
      floor_pipelined: floorPipelined,
      ours,
      go: goCell,
      raw_contended: rawContended,
      contended,
      ours_over_raw: ratio(ours?.throughput, raw?.throughput),
      ours_over_raw_pipelined: ratio(ours?.throughput, rawPipelined?.throughput),
      floor_over_raw: ratio(floor?.throughput, raw?.throughput),
      floor_pipelined_over_raw_pipelined: ratio(floorPipelined?.throughput, rawPipelined?.throughput),
      ours_over_floor: ratio(ours?.throughput, floor?.throughput),
      ours_over_floor_pipelined: ratio(ours?.throughput, floorPipelined?.throughput),
      ours_over_go: ratio(ours?.throughput, goCell?.throughput),
      ours_p99_over_p50: ratio(ours?.p99_ms, ours?.p50_ms),
      contended_over_raw_contended: ratio(contended?.throughput, rawContended?.throughput)
    }
  })

export type CompareRow = ReturnType<typeof compareRows>[number]
