/** Small helpers for tests of the Promise API. */
import { assert } from "vitest"

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** The rejection of a promise that must reject. */
export const rejection = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise
  } catch (error) {
    return error
  }
  return assert.fail("expected a rejection")
}
