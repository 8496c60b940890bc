/**
 * The one place where a failure of the Effect core becomes one of the Promise
 * API's errors (`errors.ts`, 1.11's names and messages).
 */
import * as Cause from "effect/Cause"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import type { DflockdError } from "../errors/errors.ts"
import { AcquireTimeoutError, AuthError, LockError } from "./errors.ts"

/** A failure of the Effect core, or a `LockError` the facade raised inside an effect. */
export type Failure = DflockdError | LockError

/** Turns a failure of the core into the error a Promise rejects with. */
export const fromFailure = (error: Failure): LockError => {
  if (error instanceof LockError) return error
  switch (error._tag) {
    case "AcquireTimeoutError":
      return new AcquireTimeoutError(error.key, { cause: error })
    case "AuthError":
      return new AuthError({ cause: error })
    default:
      return new LockError(error.message, { cause: error })
  }
}

/** Turns the cause of a failed operation into the error the Promise rejects with. */
export const fromCause = (cause: Cause.Cause<Failure>, interrupted: () => LockError): LockError => {
  const error = Cause.findErrorOption(cause)
  if (Option.isSome(error)) return fromFailure(error.value)
  if (Cause.hasInterruptsOnly(cause)) return interrupted()
  const defect = Cause.squash(cause)
  const detail = Predicate.hasProperty(defect, "message") ? String(defect.message) : String(defect)
  return new LockError(`unexpected failure: ${detail}`, { cause: defect })
}
