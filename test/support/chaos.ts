/**
 * Measuring the one promise: while our region runs, nobody else holds its lock.
 * A region that records when it ran, and a contender in another process that
 * records when the server granted it the same key; both on the wall clock in
 * milliseconds (`performance.timeOrigin + performance.now()`), comparable across
 * processes on one machine.
 */
import { Deferred, Effect } from "effect"
import { spawn } from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { lineReader } from "./lines.ts"

export const now = (): number => performance.timeOrigin + performance.now()

const script = Path.join(Path.dirname(fileURLToPath(import.meta.url)), "contender.ts")

export interface Contender {
  /** When its `l` was written. */
  readonly sent: Promise<number>
  /** When the server's grant arrived. */
  readonly granted: Promise<number>
  /** When its release was answered (after holding `holdMillis`). */
  readonly released: Promise<number>
}

/**
 * Another client, in its own process, queued for `key` on `server` (dialing
 * again until the server accepts, e.g. across a restart). Killed with the scope.
 */
export const contender = (
  server: { readonly host: string; readonly port: number },
  key: string,
  options: { readonly timeoutSeconds?: number; readonly holdMillis?: number } = {}
) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(process.execPath, [
        script,
        server.host,
        String(server.port),
        key,
        String(options.timeoutSeconds ?? 30),
        String(options.holdMillis ?? 0)
      ], { stdio: ["ignore", "pipe", "inherit"] })
      const events = new Map<string, (at: number) => void>()
      const promised = (name: string) => new Promise<number>((resolve) => events.set(name, resolve))
      const contender: Contender = {
        sent: promised("sent"),
        granted: promised("granted"),
        released: promised("released")
      }
      child.stdout.on(
        "data",
        lineReader((line) => {
          const [event = "", at = ""] = line.split(" ")
          events.get(event)?.(Number(at))
        })
      )
      return { child, contender }
    }),
    ({ child }) => Effect.sync(() => child.kill("SIGKILL"))
  ).pipe(Effect.map(({ contender }) => contender))

/** When a region ran, on the same clock as {@link Contender}. */
export interface RegionTimes {
  started: number | undefined
  ended: number | undefined
}

/**
 * A region that runs until interrupted, recording when it started and ended;
 * `entered` completes once it runs.
 */
export const recordedRegion = (times: RegionTimes, entered: Deferred.Deferred<void>) =>
  Effect.sync(() => {
    times.started = now()
  }).pipe(
    Effect.andThen(Deferred.succeed(entered, undefined)),
    Effect.andThen(Effect.never),
    Effect.ensuring(Effect.sync(() => {
      times.ended = now()
    }))
  )
