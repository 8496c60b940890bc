/**
 * Offending values, shown safely in `InvalidArgumentError`: strings JSON-quoted
 * (control characters escaped) and cut at {@link MAX_SHOWN_CHARACTERS}; other
 * values as their plain text. Secrets (auth tokens) are never passed here: their
 * errors show {@link REDACTED}.
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"

/** Longest part of a string shown, in UTF-16 code units. */
export const MAX_SHOWN_CHARACTERS = 64

/** What a secret's error shows instead of its value. */
export const REDACTED = "<redacted>"

/** A string, JSON-quoted, cut at {@link MAX_SHOWN_CHARACTERS} with its full length noted. */
export const showString = (s: string): string =>
  s.length <= MAX_SHOWN_CHARACTERS
    ? JSON.stringify(s)
    : `${JSON.stringify(s.slice(0, MAX_SHOWN_CHARACTERS))}… (${s.length} characters)`

/** Any value, as text: strings quoted and cut, numbers as written, durations formatted. */
export const show = (u: unknown): string => {
  if (typeof u === "string") return showString(u)
  if (typeof u === "number" || typeof u === "boolean" || u === undefined || u === null) return String(u)
  if (typeof u === "bigint") return `${u}n`
  if (Duration.isDuration(u)) return Duration.format(u)
  if (Predicate.isFunction(u) || typeof u === "symbol") return typeof u
  const json = JSON.stringify(u, (_, v: unknown) => typeof v === "bigint" ? `${v}n` : v)
  return json === undefined ? String(u) : json.length <= MAX_SHOWN_CHARACTERS + 2 ? json : showString(json)
}

/**
 * A duration input as the caller wrote it; a number (milliseconds), bigint
 * (nanoseconds), tuple or object is followed by the duration it means.
 */
export const showDuration = (input: Duration.Input): string => {
  if (typeof input === "string" || Duration.isDuration(input)) return show(input)
  return Option.match(Duration.fromInput(input), {
    onNone: () => show(input),
    onSome: (d) => `${show(input)} (${Duration.format(d)})`
  })
}
