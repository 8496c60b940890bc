/**
 * Assertions on how an effect ended: a typed failure (never a defect, never an
 * interruption) or a success.
 */
import { assert } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import { isDflockdError, type DflockdError } from "../../src/Errors.ts"

/** The single typed error of a failed exit; fails the test on success, defects or interruption. */
export const typedFailure = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) return assert.fail(`expected a failure, got a success: ${String(exit.value)}`)
  const cause = exit.cause
  assert.isFalse(Cause.hasDies(cause), `expected a typed failure, got a defect:\n${Cause.pretty(cause)}`)
  assert.isFalse(Cause.hasInterrupts(cause), `expected a typed failure, got an interruption:\n${Cause.pretty(cause)}`)
  const found = Cause.findError(cause)
  if (found._tag === "Failure") return assert.fail(`no typed error in:\n${Cause.pretty(cause)}`)
  return found.success
}

/** Asserts the exit failed with a DflockdError of the given tag and returns it. */
export const failedWith = <A, E, Tag extends DflockdError["_tag"]>(
  exit: Exit.Exit<A, E>,
  tag: Tag
): Extract<DflockdError, { readonly _tag: Tag }> => {
  const error = typedFailure(exit)
  assert.isTrue(isDflockdError(error), `expected a DflockdError, got ${String(error)}`)
  const typed = error as DflockdError
  assert.strictEqual(typed._tag, tag, `expected ${tag}, got ${typed._tag}: ${typed.message}`)
  return typed as Extract<DflockdError, { readonly _tag: Tag }>
}

/**
 * An error as text, for assertions on what it says: the `_tag`, `kind`, `code`
 * and `message` of the error, then of its `reason` (or, without one, its
 * `cause`), and so on while that is an object, six levels at most, joined by " | ".
 * A ConnectionError's `reason` is a string, so its text is its tag and its
 * message (which names the cause), not the cause's own words.
 */
export const causeText = (error: unknown): string => {
  const parts: Array<string> = []
  let current: unknown = error
  for (let depth = 0; depth < 6 && typeof current === "object" && current !== null; depth++) {
    const record = current as {
      readonly _tag?: unknown
      readonly kind?: unknown
      readonly message?: unknown
      readonly code?: unknown
      readonly reason?: unknown
      readonly cause?: unknown
    }
    for (const part of [record._tag, record.kind, record.code, record.message]) {
      if (typeof part === "string") parts.push(part)
    }
    current = record.reason ?? record.cause
  }
  return parts.join(" | ")
}
