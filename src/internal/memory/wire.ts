/**
 * The in-memory server on the wire: a request frame is parsed by the server
 * side of the codec (`../protocol/serverCodec.ts`), answered by the engine
 * (`server.ts`) and formatted back into a reply line. The handler runs
 * in the server's scope, so a client that stops waiting (an interrupted
 * exchange) leaves the server side running, as a real server keeps a blocked
 * `l` until its timeout or the connection closes.
 *
 * The handler starts at once, on the caller's stack: a request the server can
 * answer now is answered within the caller's step, not a turn of the scheduler
 * later. A forked fiber that takes several locks then reaches its region in the
 * turn it starts, as a `TestClock.adjust` called right after the fork expects
 * (it yields once before moving time): one scheduled hop per exchange made
 * nested locks miss that turn (issue 25).
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type { MemoryEngine } from "./server.ts"
import * as Wire from "../protocol/serverCodec.ts"

/** Answers one request frame with one reply line; `None` when the connection is closed instead. */
export const request = (
  engine: MemoryEngine,
  connId: number,
  frame: string
): Effect.Effect<Option.Option<string>> => {
  const parsed = Wire.parseRequest(frame)
  return Effect.forkIn(
    Effect.interruptible(engine.handle(connId, Result.isSuccess(parsed) ? parsed.success : undefined)),
    engine.scope,
    { startImmediately: true }
  ).pipe(
    Effect.flatMap(Fiber.await),
    Effect.map((exit) => Exit.isSuccess(exit) ? Option.map(exit.value, Wire.formatReply) : Option.none<string>())
  )
}
