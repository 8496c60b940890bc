/**
 * Another process taking several locks at once with `Lock.withLocks`, for the
 * multi-key test: it runs `rounds` regions over `keys` (in the order given) on
 * the server at `address`, each holding for a millisecond or two, and reports
 * on stdout, with the wall-clock time in milliseconds:
 *
 *   held <start> <end>   one region ran from start to end
 *   failed <tag>         a round failed (the test fails on it)
 *   done                 every round ran
 *
 * Usage: node multiKeyWorker.ts <host:port> <rounds> <key,key,...>
 */
import { Effect } from "effect"
import { DflockdClient, Lock } from "../../src/index.ts"

const [address = "127.0.0.1:6388", roundsText = "1", keysText = "k"] = process.argv.slice(2)
const now = () => performance.timeOrigin + performance.now()
const say = (line: string) => process.stdout.write(`${line}\n`)

const region = Effect.gen(function*() {
  const start = now()
  yield* Effect.sleep(`${1 + Math.floor(Math.random() * 2)} millis`)
  say(`held ${start} ${now()}`)
})

const rounds = Effect.forEach(
  Array.from({ length: Number(roundsText) }, (_, i) => i),
  () =>
    region.pipe(
      Lock.withLocks(keysText.split(","), { acquireTimeout: "20 seconds" }),
      Effect.catch((error) => Effect.sync(() => say(`failed ${error._tag}`)))
    ),
  { discard: true }
)

Effect.runPromise(rounds.pipe(Effect.provide(DflockdClient.layer({ servers: [address] })))).then(
  () => say("done"),
  (error: unknown) => say(`failed ${String(error)}`)
)
