/**
 * Fencing tokens: pass `lock.fence` to the resource you protect, which rejects a
 * write carrying an older fence than one it has seen. dflockd v2.1+ makes fences
 * strictly increasing per grant; older servers (like the pinned 0.5.0) issue
 * random tokens, so this shows the mechanics, not a guarantee on that server.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Ref } from "effect"
import { DflockdClient, Lock, Token } from "effect-dflockd"
import { server } from "./_servers.ts"

const program = Effect.gen(function*() {
  const storage = yield* Ref.make({ highestFence: 0n, value: "" })
  const write = (fence: bigint, value: string) =>
    Ref.modify(storage, (s) =>
      fence >= s.highestFence
        ? ["accepted" as const, { highestFence: fence, value }]
        : ["rejected: stale fence" as const, s])

  const lock = yield* Lock.acquire("storage")
  yield* Effect.log(`token ${lock.token} → fence ${lock.fence} (Token.fence agrees: ${Token.fence(lock.token)._tag})`)
  yield* Effect.log(`write with current fence: ${yield* write(lock.fence, "v1")}`)
  yield* Effect.log(`write with an older fence: ${yield* write(lock.fence - 1n, "v0")}`)
}).pipe(Effect.scoped, Effect.provide(DflockdClient.layer({ servers: [server] })))

NodeRuntime.runMain(program)
