/**
 * Two-phase acquisition (`e` then `w`): `enqueue` joins the server's FIFO queue
 * (or is granted at once) and returns a ticket whose `wait` completes the
 * acquisition later, on the same connection. Holding the grant is `lease.ts`'s
 * job, as for a one-step acquire.
 */
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import { DflockdClient } from "../client/client.ts"
import { AcquireTimeoutError, ConnectionError, ProtocolError } from "../errors/errors.ts"
import type { AcquireOptions, EnqueueError, Kind, Lease, Ticket } from "./model.ts"
import * as Codec from "../protocol/codec.ts"
import {
  DEFAULT_ACQUIRE_TIMEOUT,
  hold,
  millisOf,
  ofKind,
  plan,
  sendShort,
  sendWait,
  type Spec,
  withConnection
} from "./lease.ts"
import * as Metrics from "./metrics.ts"
import * as Watchdog from "./watchdog.ts"

const tryOnce: Codec.Wait = { seconds: 0, clientMillis: undefined }

/** Two-phase step one: join the queue (or get the grant at once) and return. */
export const enqueue = <K extends Kind>(
  spec: Spec<K>,
  options: Omit<AcquireOptions, "acquireTimeout"> = {}
): Effect.Effect<Ticket<Lease<K>>, EnqueueError, Scope.Scope | DflockdClient> =>
  Effect.gen(function*() {
    const client = yield* DflockdClient
    const p = yield* Effect.fromResult(plan(spec, options, client.options))
    const requestTimeout = client.options.requestTimeout
    const readTimeoutMillis = millisOf(client.options.serverReadTimeout)
    return yield* withConnection(client, p.target.key, yield* Effect.scope, (connection, scope) =>
      Effect.gen(function*() {
        yield* connection.claim
        const clock = yield* Clock.Clock
        const enqueuedAt = Watchdog.monotonicMillis(clock)
        const reply = yield* sendShort(connection, Codec.enqueue(p.target, p.leaseSeconds), requestTimeout)
        const held = yield* Ref.make(Option.none<Lease>())
        const permit = yield* Semaphore.make(1)
        // A queued ticket's connection is silent until `wait`: the server closes it (dropping
        // the ticket) once its read timeout has passed since it answered `e`, with no word to
        // a partitioned client. A `wait` after that point less the margin is refused here.
        const silentUntil = enqueuedAt + readTimeoutMillis - Watchdog.marginFor(readTimeoutMillis)
        const spent = Effect.suspend(() => {
          const error = new ConnectionError({
            server: connection.server,
            reason: "Timeout",
            cause:
              `the ticket's connection was silent for the server's read timeout (serverReadTimeout ${readTimeoutMillis} ms) less the margin since \`enqueue\``,
            hint: "the server may have closed it and dropped the ticket: call `wait` sooner, or enqueue again"
          })
          return Effect.andThen(Scope.close(scope, Exit.fail(error)), Effect.fail(error))
        })

        // Step two on the wire: `w` for up to `wait`, then hold the grant.
        const grant = (wait: Codec.Wait) =>
          Effect.gen(function*() {
            const sentAt = Watchdog.monotonicMillis(clock)
            const granted = yield* sendWait(
              connection,
              Codec.wait(p.target.kind, p.target.key, wait.seconds),
              wait,
              requestTimeout
            ).pipe(
              // a wait the client gave up on left the exchange mid-way: spent like a timeout
              Effect.tap((reply) =>
                reply._tag === "TimedOut" && wait.clientMillis !== undefined
                  ? Scope.close(scope, Exit.void)
                  : Effect.void
              ),
              // the server dropped the waiter (timeout) or the connection is gone: the ticket is spent
              Effect.onExit((exit) =>
                Exit.isFailure(exit) ? Scope.close(scope, exit) : Effect.void
              )
            )
            if (granted._tag === "TimedOut") {
              yield* Metric.update(Metrics.timeouts(spec.kind), 1)
              return yield* new AcquireTimeoutError({ key: p.target.key })
            }
            yield* Metrics.recordGrant(spec.kind, Watchdog.monotonicMillis(clock) - sentAt)
            const { lease } = yield* hold(client, { connection, scope, plan: p, clock }, granted, sentAt).pipe(
              // a grant too stale to trust spends the ticket, like a timeout
              Effect.onExit((exit) =>
                Exit.isFailure(exit) ? Scope.close(scope, exit) : Effect.void
              )
            )
            yield* Ref.set(held, Option.some(lease))
            return lease
          })

        // Granted at once: complete the exchange now (`w` answers at once with the same
        // token), so the lease is renewed from this moment rather than from `wait`.
        if (reply._tag === "Granted") {
          yield* grant(tryOnce).pipe(
            // `acquired`, then `timeout` to the `w` that collects it: the server broke the protocol
            Effect.catchTag("AcquireTimeoutError", () =>
              Effect.fail(
                new ProtocolError({ reply: "timeout", detail: "a wait after `acquired` timed out" })
              ))
          )
        }

        const waitOnce = (timeout: Duration.Input) =>
          Effect.gen(function*() {
            const wait = yield* Effect.fromResult(Codec.validateTimeout("timeout", timeout)) // bad input fails first
            const existing = yield* Ref.get(held)
            if (Option.isSome(existing)) {
              return existing.value
            }
            if (Watchdog.monotonicMillis(clock) >= silentUntil) return yield* spent
            return yield* grant(wait)
          })

        const ticket: Ticket<Lease<K>> = {
          key: p.target.key,
          status: reply._tag === "Granted" ? "acquired" : "queued",
          wait: (timeout = DEFAULT_ACQUIRE_TIMEOUT) =>
            permit.withPermit(Effect.provideService(waitOnce(timeout), DflockdClient, client)).pipe(
              Effect.map((lease) => ofKind(spec, lease)),
              // the connection was authenticated when it opened: `error_auth` now breaks the protocol
              Effect.catchTag("AuthError", () =>
                Effect.fail(
                  new ProtocolError({ reply: "error_auth", detail: "error_auth on an authenticated connection" })
                ))
            )
        }
        return ticket
      }))
  })
