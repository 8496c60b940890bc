/**
 * fast-check parameters shared by the property tests: a fixed seed keeps every
 * run reproducible (set FC_SEED to explore other seeds; a failure report prints
 * the seed and path to replay).
 */
import type * as fc from "fast-check"

const envSeed = Number(process.env["FC_SEED"])

export const seed: number = Number.isInteger(envSeed) ? envSeed : 0x5eed_d10c

export const params = <T>(numRuns = 200): fc.Parameters<T> => ({ seed, numRuns })
