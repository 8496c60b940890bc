/** Log lines of the memory modes, tallied by kind instead of printed one by one. */
import { Cause, Logger } from "effect"

/**
 * Counts log lines by message (keys and numbers folded) instead of printing
 * thousands of them; the first of each kind is kept as an example.
 */
export const makeLogTally = () => {
  const counts = new Map<string, { count: number; example: string }>()
  const logger = Logger.make<unknown, void>(({ cause, logLevel, message }) => {
    const parts = Array.isArray(message) ? message : [message]
    const text = parts.map((p) => typeof p === "string" ? p : String(p)).join(" ")
    const kind = `${logLevel}: ${text.replace(/"[^"]*"/g, "<key>")}`
    const entry = counts.get(kind)
    if (entry !== undefined) entry.count++
    else {
      const reason = Cause.hasFails(cause) || Cause.hasDies(cause) ? ` (${Cause.pretty(cause).split("\n")[0]})` : ""
      counts.set(kind, { count: 1, example: `${text}${reason}` })
    }
  })
  const drain = () => {
    const lines = [...counts.values()].map(({ count, example }) => `  ${count} x log: ${example}`)
    counts.clear()
    return lines
  }
  return { layer: Logger.layer([logger]), drain }
}
