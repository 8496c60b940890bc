/**
 * The library's connection and auth errors, in `dflock`'s words: their hints
 * name the client's options (`servers`, `tls`) and the server's flags, where a
 * `dflock` user sets `--servers`, `--tls`/`--no-tls`/`--tls-ca`,
 * `--auth-token-env` and their variables. The error's tag, reason and hint
 * select the wording; what dflock knows about its own settings (TLS or not,
 * where the token came from) completes it. Anything else keeps the library's
 * message.
 */
import type { AuthError, ConnectionError } from "../errors/errors.ts"
import * as InternalConfig from "../options/config.ts"

/** What dflock's settings were, as far as its advice goes. */
export interface HintContext {
  /** The client spoke TLS (`--tls`, `--tls-ca`, `DFLOCKD_TLS`, `DFLOCKD_TLS_CA_FILE`). */
  readonly tls: boolean
  /** The variable the auth token was read from, when one was sent; `viaFlag` if `--auth-token-env` named it. */
  readonly token: { readonly variable: string; readonly viaFlag: boolean } | undefined
}

const { variables } = InternalConfig

const servers = `Check --servers (${variables.servers})`

/** The advice for a TLS mismatch: the other side of dflock's own setting. */
const tlsAdvice = (tls: boolean): string =>
  tls
    ? "is TLS configured on both sides? The server may not speak TLS: start it with --tls-cert/--tls-key, " +
      `or use --no-tls (${variables.tls}=false) and no --tls-ca (${variables.tlsCaFile})`
    : "is TLS configured on both sides? The server may be TLS-only (--tls-cert): use --tls or --tls-ca " +
      `(${variables.tls}, ${variables.tlsCaFile}), or start the server without TLS`

/** dflock's hint for a connection error that carries one, or `undefined` to keep the library's. */
const connectionAdvice = (error: ConnectionError, context: HintContext): string | undefined => {
  if (error.hint === undefined) return undefined
  switch (error.reason) {
    case "Refused":
      return `is a dflockd server running at that address? ${servers}`
    case "Unreachable":
      return `does the host name resolve, and can this machine reach it? ${servers}`
    default:
      return /\bTLS\b/.test(error.hint) ? tlsAdvice(context.tls) : undefined
  }
}

/** A ConnectionError's message with dflock's hint in place of the library's. */
export const connectionMessage = (error: ConnectionError, context: HintContext): string => {
  const advice = connectionAdvice(error, context)
  if (advice === undefined || error.hint === undefined) return error.message
  const suffix = ` (${error.hint})`
  const base = error.message.endsWith(suffix) ? error.message.slice(0, -suffix.length) : error.message
  return `${base} (${advice})`
}

/** An AuthError in dflock's words: which variable (or `--auth-token-env`) held the token, or should. */
export const authMessage = (error: AuthError, context: HintContext): string => {
  const { token } = context
  if (error.reason === "NotEnabled") {
    const drop = token?.viaFlag === true
      ? `drop --auth-token-env ${token.variable}`
      : `unset ${token?.variable ?? variables.authToken}`
    return `${error.server} has no authentication configured (it refused the auth command): ${drop}, ` +
      "or start the server with --auth-token (dflockd 1.6 or newer)"
  }
  const rejected = `authentication rejected by ${error.server}`
  if (token === undefined) {
    return `${rejected}: it requires an auth token: put the server's --auth-token in ${variables.authToken}, ` +
      "or in a variable named with --auth-token-env VAR"
  }
  return token.viaFlag
    ? `${rejected}: the auth token in ${token.variable} (--auth-token-env ${token.variable}) is wrong: ` +
      "it must be the server's --auth-token"
    : `${rejected}: the auth token in ${token.variable} is wrong: it must be the server's --auth-token ` +
      "(or name another variable with --auth-token-env VAR)"
}
