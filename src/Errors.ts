/**
 * Typed errors of effect-dflockd. Every failure the client reports is one of
 * these tagged classes, so callers handle them with `Effect.catchTag`.
 *
 * @since 0.1.0
 */
export {
  AcquireTimeoutError,
  AuthError,
  AuthErrorReason,
  ConnectionError,
  ConnectionErrorReason,
  DflockdError,
  InvalidArgumentError,
  isDflockdError,
  LockLostError,
  ProtocolError,
  ServerError,
  ServerErrorReason
} from "./internal/errors/errors.ts"
