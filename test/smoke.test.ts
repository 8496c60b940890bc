import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { inject } from "vitest"
import { DflockdClient, Lock } from "../src/index.ts"

const server = inject("dflockd")
const Live = DflockdClient.layer({ servers: [server.address] })

describe("smoke", () => {
  it.live("acquires and releases", () =>
    Effect.gen(function*() {
      const lock = yield* Lock.acquire("smoke", { leaseTtl: "3 seconds" })
      assert.strictEqual(lock.key, "smoke")
      assert.match(lock.token, /^[0-9a-f]{32}$/)
      assert.strictEqual(Duration.toSeconds(lock.leaseTtl), 3)
    }).pipe(Effect.scoped, Effect.provide(Live)))
})
