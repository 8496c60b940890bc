/** Memory of this process, read after full collections so that every reading holds only what is reachable. */
import * as V8 from "node:v8"

export interface Memory {
  readonly heapUsed: number
  readonly rss: number
  readonly external: number
}

/**
 * Full collections until the heap holds only what is reachable, the same at every reading. Each is
 * V8's "last resort" collection (the one it runs before giving up on memory), which also drops what a
 * regular one keeps: the compilation cache that retains module sources (about 3 MiB of large-object
 * space here) and bytecode not run lately (flushed by age: only the third or fourth collection in a row
 * frees it). V8's memory reducer sometimes drops these in the middle of a measurement; dropped before
 * every reading, they bias none. At least 4 collections, then more while one frees 64 KiB or more (at
 * most 10).
 */
const gc = (): void => {
  const collect = globalThis.gc
  if (collect === undefined) throw new Error("run with --expose-gc")
  let before = V8.getHeapStatistics().used_heap_size
  for (let i = 0; i < 10; i++) {
    collect({ type: "major", execution: "sync", flavor: "last-resort" })
    const after = V8.getHeapStatistics().used_heap_size
    if (i >= 3 && before - after < 64 * 1024) return
    before = after
  }
}

export const memoryNow = (): Memory => {
  gc()
  const m = process.memoryUsage()
  return { heapUsed: m.heapUsed, rss: m.rss, external: m.external }
}
