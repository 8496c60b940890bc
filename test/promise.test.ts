/**
 * The Promise facade (`effect-dflockd/promise`) against the real dflockd 0.5.0
 * server: every method, the error classes, `onLockLost`, FIFO order, and a
 * child process that must exit on its own after `release()` / `close()`.
 */
import { spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it, vi } from "vitest"
import { inject } from "vitest"
import { freePort, type ServerHandle, startServer } from "../scripts/dflockd-server.ts"
import {
  AcquireTimeoutError,
  AuthError,
  DistributedLock,
  DistributedSemaphore,
  LockError,
  stableHashShard,
  stats,
  withLocks
} from "../src/promise.ts"
import * as Options from "../src/internal/promise/options.ts"
import * as Shared from "../src/internal/promise/runtime.ts"
import * as Sharding from "../src/Sharding.ts"
import { has, needs } from "./support/server.ts"
import { rejection, sleep } from "./support/promises.ts"
import { freshKey as fresh } from "./support/keys.ts"

const server = inject("dflockd")
const servers: Array<[string, number]> = [[server.host, server.port]]
const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")

const freshKey = (name: string) => fresh("promise", name)

/** The `_tag` of a LockError's cause (the Effect core's tagged error), if any. */
const causeTag = (error: unknown): string | undefined => {
  if (!(error instanceof Error)) return undefined
  const cause: unknown = error.cause
  return typeof cause === "object" && cause !== null && "_tag" in cause && typeof cause._tag === "string"
    ? cause._tag
    : undefined
}

/** Try-once acquire from an independent instance: true when nobody holds the key. */
const isFree = async (key: string, on: Array<[string, number]> = servers): Promise<boolean> => {
  const probe = new DistributedLock({ key, servers: on, acquireTimeoutS: 0 })
  try {
    const free = await probe.acquire()
    // released, not just closed: a closed connection frees the key only once the server sees the hang-up
    if (free) await probe.release()
    return free
  } finally {
    probe.close()
  }
}

describe("effect-dflockd/promise", () => {
  describe("errors", () => {
    it("AcquireTimeoutError and AuthError extend LockError extends Error", () => {
      const timeout = new AcquireTimeoutError("k")
      const auth = new AuthError()
      const base = new LockError("x")
      assert.instanceOf(timeout, AcquireTimeoutError)
      assert.instanceOf(timeout, LockError)
      assert.instanceOf(timeout, Error)
      assert.instanceOf(auth, AuthError)
      assert.instanceOf(auth, LockError)
      assert.instanceOf(base, Error)
      assert.strictEqual(timeout.name, "AcquireTimeoutError")
      assert.strictEqual(timeout.key, "k")
      assert.strictEqual(auth.name, "AuthError")
      assert.strictEqual(base.name, "LockError")
      assert.match(String(timeout), /^AcquireTimeoutError: timeout acquiring 'k'/)
      assert.strictEqual(auth.message, "authentication failed")
      assert.notInstanceOf(base, AcquireTimeoutError)
      assert.notInstanceOf(auth, AcquireTimeoutError)
      assert.notInstanceOf(timeout, AuthError)
    })

    it("invalid options throw LockError at construction, before any I/O", () => {
      const invalid: Array<() => unknown> = [
        () => new DistributedLock({ key: "" }),
        () => new DistributedLock({ key: "line\nbreak" }),
        () => new DistributedLock({ key: "k", leaseTtlS: 0 }),
        () => new DistributedLock({ key: "k", leaseTtlS: 1.5 }),
        () => new DistributedLock({ key: "k", acquireTimeoutS: -1 }),
        () => new DistributedLock({ key: "k", acquireTimeoutS: Number.NaN }),
        () => new DistributedLock({ key: "k", renewRatio: 1 }),
        () => new DistributedLock({ key: "k", serverReadTimeoutMs: 0 }),
        () => new DistributedLock({ key: "k", serverReadTimeoutMs: 2.5 }),
        () => new DistributedLock({ key: "k", servers: [] }),
        () => new DistributedSemaphore({ key: "k", limit: 0 }),
        () => new DistributedSemaphore({ key: "k", limit: 2.5 })
      ]
      for (const make of invalid) {
        const error = (() => {
          try {
            make()
          } catch (e) {
            return e
          }
          return assert.fail(`no error from ${make.toString()}`)
        })()
        assert.instanceOf(error, LockError, make.toString())
      }
    })

    it("what 1.11 leaves to the server is refused when used: LockError caused by InvalidArgumentError", async () => {
      // dflockd-client 1.11 constructs these and fails on use; so does this client, before any I/O
      const later = [
        new DistributedLock({ key: "has space", servers }),
        new DistributedLock({ key: "k", servers: [["127.0.0.1", 70000]] }),
        new DistributedLock({ key: "k", servers, auth: "two\nlines" })
      ]
      for (const lock of later) {
        const error = await rejection(lock.acquire())
        assert.instanceOf(error, LockError)
        assert.strictEqual(causeTag(error), "InvalidArgumentError")
      }
    })

    it("withLock rejects with AcquireTimeoutError (a LockError) when the key stays busy", async () => {
      const key = freshKey("timeout")
      const holder = new DistributedLock({ key, servers })
      const other = new DistributedLock({ key, servers, acquireTimeoutS: 1 })
      try {
        assert.isTrue(await holder.acquire())
        let ran = false
        const error = await rejection(other.withLock(() => {
          ran = true
        }))
        assert.instanceOf(error, AcquireTimeoutError)
        assert.instanceOf(error, LockError)
        assert.strictEqual((error as AcquireTimeoutError).key, key)
        assert.strictEqual((error as AcquireTimeoutError).message, `timeout acquiring '${key}'`)
        assert.isFalse(ran)
        assert.isNull(other.token)
      } finally {
        holder.close()
        other.close()
      }
    })

    it("a token the server refuses gives AuthError (0.5.0 has no auth, so it refuses any)", async () => {
      const lock = new DistributedLock({ key: freshKey("auth"), servers, auth: "secret-token" })
      try {
        const error = await rejection(lock.acquire())
        assert.instanceOf(error, AuthError)
        assert.instanceOf(error, LockError)
        assert.notInstanceOf(error, AcquireTimeoutError)
        assert.strictEqual(causeTag(error), "AuthError")
        assert.notInclude(String((error as Error).message), "secret-token")
      } finally {
        lock.close()
      }
    })

    it("an unreachable server gives LockError caused by ConnectionError", async () => {
      const port = await freePort()
      const lock = new DistributedLock({ key: "unreachable", servers: [["127.0.0.1", port]], connectTimeoutMs: 500 })
      try {
        const error = await rejection(lock.acquire())
        assert.instanceOf(error, LockError)
        assert.notInstanceOf(error, AcquireTimeoutError)
        assert.notInstanceOf(error, AuthError)
        assert.strictEqual(causeTag(error), "ConnectionError")
        assert.isNull(lock.token)
      } finally {
        lock.close()
      }
    })
  })

  describe("DistributedLock", () => {
    it("acquire, getters, release", async () => {
      const key = freshKey("basic")
      const lock = new DistributedLock({ key, acquireTimeoutS: 10, leaseTtlS: 20, servers })
      try {
        assert.strictEqual(lock.key, key)
        assert.isNull(lock.token)
        assert.strictEqual(lock.lease, 0)
        assert.isTrue(await lock.acquire())
        assert.match(lock.token ?? "", /^[0-9a-f]{32}$/)
        assert.strictEqual(lock.lease, 20)
        assert.isFalse(await isFree(key))
        await lock.release()
        assert.isNull(lock.token)
        assert.strictEqual(lock.lease, 0)
        assert.isTrue(await isFree(key))
        assert.instanceOf(await rejection(lock.release()), LockError, "released already: the instance is closed")
        // the instance can acquire again
        assert.isTrue(await lock.acquire())
        await lock.release()
      } finally {
        lock.close()
      }
    })

    it("uses the server's default lease when leaseTtlS is not given", async () => {
      const lock = new DistributedLock({ key: freshKey("default-lease"), servers })
      try {
        assert.isTrue(await lock.acquire())
        assert.strictEqual(lock.lease, 5) // the global server runs with --default-lease-ttl 5
      } finally {
        lock.close()
      }
    })

    it("acquire resolves false on timeout", async () => {
      const key = freshKey("acquire-timeout")
      const holder = new DistributedLock({ key, servers })
      const other = new DistributedLock({ key, servers, acquireTimeoutS: 1 })
      try {
        assert.isTrue(await holder.acquire())
        const started = performance.now()
        assert.isFalse(await other.acquire())
        assert.isAtLeast(performance.now() - started, 900)
        assert.isNull(other.token)
        assert.instanceOf(await rejection(other.release()), LockError, "a timed-out acquire closes the instance")
      } finally {
        holder.close()
        other.close()
      }
    })

    it("acquire() while holding throws LockError unless { force: true }", async () => {
      const key = freshKey("force")
      const lock = new DistributedLock({ key, servers, acquireTimeoutS: 2 })
      try {
        assert.isTrue(await lock.acquire())
        const first = lock.token
        const error = await rejection(lock.acquire())
        assert.instanceOf(error, LockError)
        assert.notInstanceOf(error, AcquireTimeoutError)
        assert.match((error as Error).message, /already connected/)
        assert.strictEqual(lock.token, first, "still holding the first grant")
        assert.instanceOf(await rejection(lock.enqueue()), LockError)
        assert.isTrue(await lock.acquire({ force: true }))
        assert.isString(lock.token)
        assert.notStrictEqual(lock.token, first)
        assert.isFalse(await isFree(key))
        await lock.release()
        assert.isTrue(await isFree(key))
      } finally {
        lock.close()
      }
    })

    it("withLock holds during fn, returns its value, releases after", async () => {
      const key = freshKey("with-lock")
      const lock = new DistributedLock({ key, servers, leaseTtlS: 10 })
      try {
        const result = await lock.withLock(async (signal) => {
          assert.isFalse(signal.aborted)
          assert.match(lock.token ?? "", /^[0-9a-f]{32}$/)
          assert.isFalse(await isFree(key))
          return 42
        })
        assert.strictEqual(result, 42)
        assert.isNull(lock.token)
        assert.isTrue(await isFree(key))
        // a synchronous fn works too, while holding; one that declares no parameter is called with none
        assert.strictEqual(
          await lock.withLock(function(this: unknown) {
            assert.strictEqual(arguments.length, 0)
            assert.match(lock.token ?? "", /^[0-9a-f]{32}$/)
            return "sync"
          }),
          "sync"
        )
        assert.isTrue(await isFree(key))
        // a synchronous fn that closes the instance: 1.11's release then finds it closed
        const closing = await rejection(lock.withLock(() => lock.close()))
        assert.instanceOf(closing, LockError)
        assert.match(closing.message, /nothing to release/)
        const next = new DistributedLock({ key, servers, acquireTimeoutS: 5 })
        try {
          assert.isTrue(await next.acquire(), "the closed connection freed the lock")
          await next.release()
        } finally {
          next.close()
        }
      } finally {
        lock.close()
      }
    })

    it("withLock releases when fn throws and rethrows the same error", async () => {
      const key = freshKey("with-lock-throw")
      const lock = new DistributedLock({ key, servers })
      const boom = new Error("boom")
      try {
        const error = await rejection(lock.withLock(async () => {
          await sleep(10)
          throw boom
        }))
        assert.strictEqual(error, boom)
        assert.isNull(lock.token)
        assert.isTrue(await isFree(key))
        // thrown synchronously: the same, released in the same run
        const syncBoom = new Error("sync boom")
        assert.strictEqual(
          await rejection(lock.withLock(() => {
            throw syncBoom
          })),
          syncBoom
        )
        assert.isNull(lock.token)
        assert.isTrue(await isFree(key))
        // withLock while holding is a LockError, like acquire()
        assert.isTrue(await lock.acquire())
        assert.instanceOf(await rejection(lock.withLock(() => 1)), LockError)
      } finally {
        lock.close()
      }
    })

    it("enqueue on a free key: acquired at once, wait resolves true immediately", async () => {
      const key = freshKey("enqueue-free")
      const lock = new DistributedLock({ key, servers, leaseTtlS: 7 })
      try {
        assert.strictEqual(await lock.enqueue(), "acquired")
        assert.match(lock.token ?? "", /^[0-9a-f]{32}$/)
        assert.strictEqual(lock.lease, 7)
        assert.isTrue(await lock.wait(0))
        assert.isFalse(await isFree(key))
        await lock.release()
        assert.isTrue(await isFree(key))
      } finally {
        lock.close()
      }
    })

    it("enqueue on a busy key: queued, then wait is granted when the holder releases", async () => {
      const key = freshKey("enqueue-busy")
      const holder = new DistributedLock({ key, servers })
      const lock = new DistributedLock({ key, servers })
      try {
        assert.isTrue(await holder.acquire())
        assert.strictEqual(await lock.enqueue(), "queued")
        assert.isNull(lock.token)
        const granted = lock.wait(10)
        await sleep(100)
        await holder.release()
        assert.isTrue(await granted)
        assert.match(lock.token ?? "", /^[0-9a-f]{32}$/)
        await lock.release()
        assert.isTrue(await isFree(key))
      } finally {
        holder.close()
        lock.close()
      }
    })

    it("wait resolves false on timeout and gives up the place; wait without enqueue rejects", async () => {
      const key = freshKey("wait-timeout")
      const holder = new DistributedLock({ key, servers })
      const lock = new DistributedLock({ key, servers, acquireTimeoutS: 1 })
      try {
        assert.instanceOf(await rejection(lock.wait(1)), LockError)
        assert.isTrue(await holder.acquire())
        assert.strictEqual(await lock.enqueue(), "queued")
        assert.isFalse(await lock.wait(), "default timeout: acquireTimeoutS (1 s)")
        assert.isNull(lock.token)
        assert.instanceOf(await rejection(lock.wait(1)), LockError, "the ticket is spent")
        assert.strictEqual(await lock.enqueue(), "queued")
        assert.instanceOf(await rejection(lock.wait(-1)), LockError, "a negative timeout is refused (and closes)")
        assert.instanceOf(await rejection(lock.wait(1)), LockError)
        await holder.release()
        assert.isTrue(await isFree(key), "no waiter left behind")
        assert.strictEqual(await lock.enqueue(), "acquired", "the instance can enqueue again")
      } finally {
        holder.close()
        lock.close()
      }
    })

    it("release() after enqueue leaves the queue", async () => {
      const key = freshKey("leave-queue")
      const holder = new DistributedLock({ key, servers })
      const lock = new DistributedLock({ key, servers })
      try {
        assert.isTrue(await holder.acquire())
        assert.strictEqual(await lock.enqueue(), "queued")
        await lock.release()
        await holder.release()
        assert.isTrue(await isFree(key))
      } finally {
        holder.close()
        lock.close()
      }
    })

    it("five concurrent workers are granted in the order they queued", async () => {
      const key = freshKey("fifo")
      const holder = new DistributedLock({ key, servers })
      const workers = Array.from({ length: 5 }, () => new DistributedLock({ key, servers, acquireTimeoutS: 20 }))
      try {
        assert.isTrue(await holder.acquire())
        // each worker joins the server's FIFO queue only after the previous one is in it
        for (const worker of workers) assert.strictEqual(await worker.enqueue(), "queued")
        const granted: Array<number> = []
        const running = workers.map(async (worker, id) => {
          assert.isTrue(await worker.wait(20))
          granted.push(id)
          await sleep(30)
          await worker.release()
        })
        await holder.release()
        await Promise.all(running)
        assert.deepStrictEqual(granted, [0, 1, 2, 3, 4])
      } finally {
        holder.close()
        for (const w of workers) w.close()
      }
    })

    it("shards keys across servers with stableHashShard or a custom strategy", async () => {
      const extra: Array<ServerHandle> = [await startServer(), await startServer()]
      try {
        const all: Array<[string, number]> = [servers[0]!, ...extra.map((s): [string, number] => [s.host, s.port])]
        for (let i = 0; i < 6; i++) {
          const key = freshKey(`shard${i}`)
          const index = stableHashShard(key, all.length)
          const lock = new DistributedLock({ key, servers: all })
          try {
            assert.isTrue(await lock.acquire())
            for (let s = 0; s < all.length; s++) {
              assert.strictEqual(await isFree(key, [all[s]!]), s !== index, `key ${key} on server ${s}`)
            }
          } finally {
            lock.close()
          }
        }
        const key = freshKey("custom-shard")
        const lock = new DistributedLock({ key, servers: all, shardingStrategy: () => 2 })
        try {
          assert.isTrue(await lock.acquire())
          assert.isFalse(await isFree(key, [all[2]!]))
          assert.isTrue(await isFree(key, [all[0]!]))
        } finally {
          lock.close()
        }
        const broken = new DistributedLock({ key, servers: all, shardingStrategy: () => 7 })
        assert.instanceOf(await rejection(broken.acquire()), LockError)
        broken.close()
      } finally {
        await Promise.all(extra.map((s) => s.stop()))
      }
    })

    it("close() interrupts a pending acquire and frees the held lock without a release", async () => {
      const key = freshKey("close")
      const holder = new DistributedLock({ key, servers })
      const waiter = new DistributedLock({ key, servers, acquireTimeoutS: 30 })
      try {
        assert.isTrue(await holder.acquire())
        const pending = waiter.acquire()
        await sleep(200)
        const started = performance.now()
        waiter.close()
        const error = await rejection(pending)
        assert.instanceOf(error, LockError)
        assert.isBelow(performance.now() - started, 3000)
        assert.instanceOf(await rejection(waiter.release()), LockError, "closed")
        waiter.close() // idempotent
        // closing the holder releases the lock; the interrupted waiter is gone, so a newcomer gets it
        holder.close()
        const next = new DistributedLock({ key, servers, acquireTimeoutS: 3 })
        assert.isTrue(await next.acquire())
        next.close()
      } finally {
        holder.close()
        waiter.close()
      }
    })

    it("onLockLost fires with key and token when the server dies; withLock's signal aborts", async () => {
      const own = await startServer({ "default-lease-ttl": 2 })
      const on: Array<[string, number]> = [[own.host, own.port]]
      const lostCalls: Array<[string, string]> = []
      let reported = () => {}
      const lostReported = new Promise<void>((resolve) => reported = resolve)
      const key = freshKey("lost")
      const lock = new DistributedLock({
        key,
        servers: on,
        leaseTtlS: 2,
        onLockLost: (k, token) => {
          lostCalls.push([k, token])
          reported()
        }
      })
      // a callback that rejects must not become an unhandled rejection
      const region = new DistributedLock({
        key: freshKey("lost-region"),
        servers: on,
        leaseTtlS: 2,
        onLockLost: async () => {
          throw new Error("callback failed on purpose")
        }
      })
      try {
        assert.isTrue(await lock.acquire())
        const token = lock.token
        assert.isString(token)
        let regionStarted = () => {}
        const started = new Promise<void>((resolve) => regionStarted = resolve)
        // the handler is attached at once: the region may reject before the test awaits it
        const regionOutcome = rejection(region.withLock(
          (signal) =>
            new Promise<string>((resolve) => {
              regionStarted()
              signal.addEventListener("abort", () => resolve("aborted"))
            })
        ))
        await started
        await own.kill()
        await Promise.race([lostReported, sleep(8000).then(() => assert.fail("onLockLost was not called"))])
        assert.deepStrictEqual(lostCalls, [[key, token!]])
        assert.isNull(lock.token)
        assert.strictEqual(lock.lease, 0)
        const regionError = await regionOutcome
        assert.instanceOf(regionError, LockError)
        assert.strictEqual(causeTag(regionError), "LockLostError")
        assert.isNull(region.token)
        assert.instanceOf(await rejection(lock.release()), LockError, "closed by the loss, as 1.11")
        await sleep(100)
        assert.strictEqual(lostCalls.length, 1, "called once")
      } finally {
        lock.close()
        region.close()
        await own.stop()
      }
    })
  })

  describe("DistributedSemaphore", () => {
    it.skipIf(!has("semaphores"))(
      `has the lock's API and limit; permits up to the limit${needs("semaphores")}`,
      async () => {
        const key = freshKey("sem")
        const a = new DistributedSemaphore({ key, limit: 2, servers, acquireTimeoutS: 1 })
        const b = new DistributedSemaphore({ key, limit: 2, servers, acquireTimeoutS: 1 })
        const c = new DistributedSemaphore({ key, limit: 2, servers, acquireTimeoutS: 0 })
        try {
          assert.strictEqual(a.limit, 2)
          assert.strictEqual(a.key, key)
          assert.isNull(a.token)
          assert.strictEqual(await a.withLock(() => "ran"), "ran")
          assert.isTrue(await a.acquire())
          assert.match(a.token ?? "", /^[0-9a-f]{32}$/)
          assert.strictEqual(await b.enqueue(), "acquired")
          assert.isFalse(await c.acquire(), "a third permit times out while two are held")
          assert.strictEqual(await c.enqueue(), "queued")
          const granted = c.wait(5)
          await sleep(50)
          await a.release()
          assert.isTrue(await granted)
          await b.release()
          await c.release()
        } finally {
          a.close()
          b.close()
          c.close()
        }
      }
    )

    it.skipIf(has("semaphores"))("a server without semaphores refuses them with a LockError", async () => {
      const key = freshKey("sem")
      const sem = new DistributedSemaphore({ key, limit: 5, servers, acquireTimeoutS: 1 })
      try {
        assert.strictEqual(sem.limit, 5)
        assert.isNull(sem.token)
        let ran = false
        const error = await rejection(sem.withLock(() => {
          ran = true
        }))
        assert.instanceOf(error, LockError)
        assert.notInstanceOf(error, AcquireTimeoutError)
        assert.include(["ServerError", "ProtocolError", "ConnectionError"], causeTag(error))
        assert.isFalse(ran)
        assert.instanceOf(await rejection(sem.acquire()), LockError)
        assert.instanceOf(await rejection(sem.enqueue()), LockError)
        assert.isNull(sem.token)
      } finally {
        sem.close()
      }
    })
  })

  describe("functions", () => {
    it("stableHashShard is the CRC-32 rule of the other clients", () => {
      assert.strictEqual(stableHashShard("my-key", 3), 2)
      for (const key of ["a", "orders", "worker-pool", "ключ"]) {
        for (const n of [1, 2, 3, 7]) assert.strictEqual(stableHashShard(key, n), Sharding.stableHashShard(key, n))
      }
      assert.instanceOf(
        (() => {
          try {
            return stableHashShard("k", 0)
          } catch (e) {
            return e
          }
        })(),
        LockError
      )
    })

    it.skipIf(!has("stats"))(`stats reports the server's connections and held keys${needs("stats")}`, async () => {
      const key = freshKey("stats")
      const lock = new DistributedLock({ key, servers })
      try {
        assert.isTrue(await lock.acquire())
        const result = await stats({ host: server.host, port: server.port })
        assert.isAtLeast(result.connections, 1)
        assert.isTrue(result.locks.some((l) => l.key === key), "the held key is listed")
        assert.isArray(result.idle_locks)
        assert.isArray(result.idle_semaphores)
      } finally {
        lock.close()
      }
    })

    it.skipIf(has("stats"))("stats rejects with LockError on a server without the stats command", async () => {
      const error = await rejection(stats({ host: server.host, port: server.port }))
      assert.instanceOf(error, LockError)
      assert.notInstanceOf(error, AuthError)
    })
  })

  describe("exact sub-second timeouts", () => {
    it("acquireTimeoutS 0.3 gives up at 300 ms, not at the server's whole second", async () => {
      const key = freshKey("exact")
      const holder = new DistributedLock({ key, servers })
      try {
        assert.isTrue(await holder.acquire())
        const lock = new DistributedLock({ key, servers, acquireTimeoutS: 0.3 })
        const started = performance.now()
        assert.isFalse(await lock.acquire(), "not granted")
        const elapsed = performance.now() - started
        assert.isAtLeast(elapsed, 299)
        assert.isBelow(elapsed, 900)
      } finally {
        holder.close()
      }
    })

    it("wait(0.3) on a queued ticket gives up at 300 ms", async () => {
      const key = freshKey("exact-wait")
      const holder = new DistributedLock({ key, servers })
      const lock = new DistributedLock({ key, servers })
      try {
        assert.isTrue(await holder.acquire())
        assert.strictEqual(await lock.enqueue(), "queued")
        const started = performance.now()
        assert.isFalse(await lock.wait(0.3))
        const elapsed = performance.now() - started
        assert.isAtLeast(elapsed, 299)
        assert.isBelow(elapsed, 900)
      } finally {
        holder.close()
        lock.close()
      }
    })
  })

  describe("withLocks", () => {
    it("holds every key while fn runs, and releases them all after", async () => {
      const keys = [freshKey("many-b"), freshKey("many-a"), freshKey("many-c")]
      const seen = await withLocks(keys, async () => {
        const free = await Promise.all(keys.map((key) => isFree(key)))
        return free
      }, { servers })
      assert.deepStrictEqual(seen, [false, false, false], "held while fn ran")
      for (const key of keys) assert.isTrue(await isFree(key), "released after")
    })

    it("all or none: one key held elsewhere rejects with AcquireTimeoutError naming it, the others are freed", async () => {
      const [a, b] = [freshKey("none-a"), freshKey("none-b")].sort()
      const holder = new DistributedLock({ key: b!, servers })
      try {
        assert.isTrue(await holder.acquire())
        let ran = false
        const started = performance.now()
        const error = await rejection(withLocks([b!, a!], () => {
          ran = true
        }, { servers, acquireTimeoutS: 0.4 }))
        assert.instanceOf(error, AcquireTimeoutError)
        assert.strictEqual((error as AcquireTimeoutError).key, b)
        assert.isFalse(ran)
        assert.isBelow(performance.now() - started, 1500, "one timeout for all the keys")
        assert.isTrue(await isFree(a!), "the key taken first was released")
      } finally {
        holder.close()
      }
    })

    it("fn's error wins, and the locks are released", async () => {
      const keys = [freshKey("throws-a"), freshKey("throws-b")]
      const error = await rejection(withLocks(keys, () => {
        throw new Error("boom")
      }, { servers }))
      assert.strictEqual((error as Error).message, "boom")
      for (const key of keys) assert.isTrue(await isFree(key))
    })

    it("no keys, a repeated key, or a bad key: LockError before any connection", async () => {
      assert.instanceOf(await rejection(withLocks([], () => 1, { servers })), LockError)
      const twice = await rejection(withLocks(["a", "a"], () => 1, { servers }))
      assert.match((twice as Error).message, /must not repeat a key/)
      assert.instanceOf(await rejection(withLocks(["ok", "a\nb"], () => 1, { servers })), LockError)
      assert.instanceOf(await rejection(withLocks(["ok"], () => 1, { servers, acquireTimeoutS: -1 })), LockError)
    })
  })

  describe("shared runtimes", () => {
    const config: Shared.Config = {
      host: "127.0.0.1",
      port: 1, // never dialled: the runtime is only retained and released
      tls: undefined,
      tlsFingerprint: "",
      auth: undefined,
      connectTimeoutMs: undefined,
      socketTimeoutMs: undefined,
      serverReadTimeoutMs: 23_000,
      renewRatio: 0.5
    }

    it("instances find their configuration's entry by its fields: equal fields, the same key; any other field, another", () => {
      const settings: Options.ConnectionSettings = {
        tls: Options.tlsSettings(undefined),
        auth: undefined,
        connectTimeoutMs: undefined,
        socketTimeoutMs: undefined,
        serverReadTimeoutMs: 23_000,
        renewRatio: 0.5
      }
      const server: [string, number] = ["127.0.0.1", 3]
      const first = Options.configEntry(server, settings)
      assert.strictEqual(first.key, Shared.keyFor(Options.configFor(server, settings)))
      assert.strictEqual(Options.configEntry(["127.0.0.1", 3], { ...settings }), first, "found again, not rebuilt")
      const variants: ReadonlyArray<readonly [readonly [string, number], Options.ConnectionSettings]> = [
        [["127.0.0.2", 3], settings],
        [["127.0.0.1", 4], settings],
        [server, { ...settings, tls: Options.tlsSettings({}) }],
        [server, { ...settings, auth: "secret" }],
        [server, { ...settings, connectTimeoutMs: 100 }],
        [server, { ...settings, socketTimeoutMs: 100 }],
        [server, { ...settings, serverReadTimeoutMs: 30_000 }],
        [server, { ...settings, renewRatio: 0.25 }]
      ]
      // more configurations than the entries kept: each is still named by its own fields
      for (let round = 0; round < 3; round++) {
        const keys = variants.map(([s, c]) => {
          const entry = Options.configEntry(s, c)
          assert.strictEqual(entry.key, Shared.keyFor(Options.configFor(s, c)))
          return entry.key
        })
        assert.strictEqual(new Set([first.key, ...keys]).size, variants.length + 1, "every field tells them apart")
        assert.strictEqual(Options.configEntry(server, settings).key, first.key)
      }
    })

    it("a runtime in short, repeated use is kept, and evicted once idle for IDLE_MILLIS", () => {
      const key = Shared.keyFor({ ...config, port: 2 })
      const isKept = () => Shared.keys().includes(key)
      const { IDLE_MILLIS } = Shared
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] })
      try {
        // users 1 → 0 → 1 …, each idle spell shorter than IDLE_MILLIS, for three times IDLE_MILLIS in all
        for (let i = 0; i < 12; i++) {
          Shared.retain(key, config).release()
          vi.advanceTimersByTime(IDLE_MILLIS / 4)
          assert.isTrue(isKept(), `idle for less than IDLE_MILLIS: kept (spell ${i})`)
        }
        const handle = Shared.retain(key, config)
        vi.advanceTimersByTime(IDLE_MILLIS * 2)
        assert.isTrue(isKept(), "in use: kept however long")
        handle.release()
        handle.release() // idempotent: counted once
        vi.advanceTimersByTime(IDLE_MILLIS - 1)
        assert.isTrue(isKept(), "not before IDLE_MILLIS of idleness")
        vi.advanceTimersByTime(1)
        assert.isFalse(isKept(), "evicted after IDLE_MILLIS of idleness")
      } finally {
        vi.useRealTimers()
      }
    })
  })

  describe("process exit", () => {
    const runScript = (body: string) => {
      // A throwaway project whose node_modules/effect-dflockd links to this package, so the script
      // imports "effect-dflockd/promise" exactly like a user (resolved to src/ by --conditions=effect-dflockd-source).
      const dir = mkdtempSync(Path.join(tmpdir(), "effect-dflockd-exit-"))
      try {
        mkdirSync(Path.join(dir, "node_modules"))
        symlinkSync(root, Path.join(dir, "node_modules", "effect-dflockd"), "dir")
        writeFileSync(Path.join(dir, "package.json"), JSON.stringify({ type: "module" }))
        const script = Path.join(dir, "script.ts")
        writeFileSync(
          script,
          [
            `import { DistributedLock, DistributedSemaphore, LockError } from "effect-dflockd/promise"`,
            `process.on("unhandledRejection", (e) => { console.error("unhandled rejection", e); process.exit(3) })`,
            `const servers: Array<[string, number]> = [[${JSON.stringify(server.host)}, ${server.port}]]`,
            `const key = ${JSON.stringify(freshKey("exit"))}`,
            body,
            `console.log("done")`,
            `const doneAt = performance.now()`,
            `process.on("exit", () => console.log(\`lingered \${Math.round(performance.now() - doneAt)} ms\`))`
          ].join("\n")
        )
        return spawnSync(process.execPath, ["--conditions=effect-dflockd-source", script], {
          cwd: dir,
          encoding: "utf8",
          timeout: 30_000
        })
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }

    const assertExitedOnItsOwn = (result: ReturnType<typeof runScript>) => {
      assert.isNull(
        result.signal,
        `killed by the timeout (did not exit on its own):\n${result.stdout}\n${result.stderr}`
      )
      assert.strictEqual(result.status, 0, `${result.stdout}\n${result.stderr}`)
      assert.include(result.stdout, "done")
      // the shared runtime's idle connections go after IDLE_MILLIS (200 ms); nothing else holds the process
      const lingered = Number(/lingered (\d+) ms/.exec(result.stdout)?.[1] ?? Number.NaN)
      assert.isBelow(lingered, 1500, `exited promptly after its last call:\n${result.stdout}`)
    }

    it("a script using acquire/release (never close) exits on its own", () => {
      assertExitedOnItsOwn(runScript(`
        const lock = new DistributedLock({ key, servers, leaseTtlS: 5, acquireTimeoutS: 5 })
        const other = new DistributedLock({ key, servers, acquireTimeoutS: 1 })
        if (!(await lock.acquire())) process.exit(2)
        if (await other.acquire()) process.exit(4)
        await lock.release()
        await lock.withLock(async () => { throw new Error("boom") }).catch(() => {})
        if ((await lock.enqueue()) !== "acquired") process.exit(5)
        if (!(await lock.wait(1))) process.exit(6)
        await lock.release()
        // failures leave nothing open either
        const refused = new DistributedLock({ key, servers, auth: "secret-token" })
        if (!((await refused.acquire().catch((e) => e)) instanceof LockError)) process.exit(8)
        const sem = new DistributedSemaphore({ key: key + "-sem", limit: 2, servers })
        const semResult = await sem.withLock(() => 1).catch((e) => e)
        // a server with semaphores runs the region; one without refuses with a LockError
        if (${has("semaphores")} ? semResult !== 1 : !(semResult instanceof LockError)) process.exit(9)
      `))
    })

    it("a script that closes while holding and while waiting exits on its own", () => {
      assertExitedOnItsOwn(runScript(`
        const lock = new DistributedLock({ key, servers, leaseTtlS: 5 })
        const waiter = new DistributedLock({ key, servers, acquireTimeoutS: 20 })
        if (!(await lock.acquire())) process.exit(2)
        const pending = waiter.acquire()
        await new Promise((r) => setTimeout(r, 100))
        waiter.close()
        const error = await pending.then(() => undefined, (e) => e)
        if (!(error instanceof LockError)) process.exit(7)
        lock.close()
      `))
    })
  })
})
