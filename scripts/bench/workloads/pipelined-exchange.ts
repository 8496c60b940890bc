/**
 * The pipelined floors' protocol: a release and the next lock's request in one write, and the two reply
 * lines read back (the release's `ok` checked, then the grant's token).
 */
import type { RawConnection } from "./raw-connection.ts"

export const lockFrame = (key: string) => `l\n${key}\n60\n`
/** The release of the held lock and the next lock's request, in one write. */
export const releaseAndLockFrame = (key: string, token: string) => `r\n${key}\n${token}\nl\n${key}\n60\n`

/** The error of an unexpected reply `line` to `command` (`l`, `r`) on `key`; a connection error as it is. */
export const replyError = (command: string, key: string, line: string | Error): Error =>
  typeof line === "string" ? new Error(`${command} ${key}: ${line}`) : line

/** The token of a grant line (`ok <token> <lease>`), or the error. */
export const grantToken = (key: string, line: string | Error): string | Error => {
  if (typeof line !== "string") return line
  const [status, token] = line.split(" ")
  return status === "ok" && token !== undefined ? token : replyError("l", key, line)
}

/**
 * Writes `frame` (a release, then a lock request) and reads its two reply lines: the release's
 * `ok`, checked, then the grant, whose token `onGrant` gets (or the first error of the two).
 */
export const pipelinedExchange = (
  connection: RawConnection,
  key: string,
  frame: string,
  onGrant: (token: string | Error) => void
): void => {
  let owed: Error | undefined
  connection.expect((line) => {
    if (line !== "ok") owed = replyError("r", key, line)
  })
  connection.send(frame, (line) => onGrant(owed ?? grantToken(key, line)))
}
