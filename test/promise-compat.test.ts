/**
 * `effect-dflockd/promise` as a drop-in replacement for dflockd-client 1.11,
 * tested the way 1.11's users test: scripted mock servers on random ports
 * (fields, defaults, validation, force, double release, close, error classes,
 * tokens like `tok1`, low-level functions), then the real server.
 */
import * as Net from "node:net"
import { assert, describe, inject, it } from "vitest"
import {
  acquire,
  AcquireTimeoutError,
  AuthError,
  DistributedLock,
  DistributedSemaphore,
  enqueue,
  LockError,
  release,
  renew,
  semAcquire,
  semEnqueue,
  semRelease,
  semRenew,
  semWaitForLock,
  stableHashShard,
  stats,
  waitForLock
} from "../src/promise.ts"
import * as Sharding from "../src/Sharding.ts"
import { has } from "./support/server.ts"
import { rejection, sleep } from "./support/promises.ts"
import { freshKey as fresh } from "./support/keys.ts"
import { lineReader } from "./support/lines.ts"

const server = inject("dflockd")

const freshKey = (name: string) => fresh("compat", name)

const until = async (condition: () => boolean, what: string, withinMs = 3000) => {
  const deadline = performance.now() + withinMs
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

// ---------------------------------------------------------------------------
// a mock server, as 1.11's tests write them
// ---------------------------------------------------------------------------

interface Request {
  readonly connection: number
  readonly command: string
  readonly key: string
  readonly arg: string
}

interface Mock {
  readonly port: number
  readonly requests: Array<Request>
  /** Connections accepted so far, and those that have ended. */
  readonly connections: { opened: number; ended: number }
  readonly close: () => Promise<void>
}

/**
 * A TCP server on a random port that hands each 3-line request to `handler`,
 * which answers with `respond` (or not at all).
 */
const mockServer = async (
  handler: (request: Request, respond: (line: string) => void) => void
): Promise<Mock> => {
  const requests: Array<Request> = []
  const connections = { opened: 0, ended: 0 }
  const sockets = new Set<Net.Socket>()
  const tcp = Net.createServer((socket) => {
    const id = ++connections.opened
    sockets.add(socket)
    const lines: Array<string> = []
    socket.on(
      "data",
      lineReader((line) => {
        lines.push(line.replace(/\r$/, ""))
        if (lines.length >= 3) {
          const [command, key, arg] = lines.splice(0, 3) as [string, string, string]
          const request = { connection: id, command, key, arg }
          requests.push(request)
          handler(request, (reply) => socket.write(`${reply}\n`))
        }
      })
    )
    socket.on("error", () => socket.destroy())
    socket.on("close", () => {
      connections.ended++
      sockets.delete(socket)
    })
  })
  await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve))
  const address = tcp.address() as Net.AddressInfo
  return {
    port: address.port,
    requests,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        tcp.close(() => resolve())
      })
  }
}

/** Grants `l`/`sl`/`w`/`sw` with `ok tok1 20`, `e`/`se` with `acquired tok1 20`, answers the rest `ok`. */
const grantAll = (request: Request, respond: (line: string) => void) => {
  if (["l", "sl", "w", "sw"].includes(request.command)) respond("ok tok1 20")
  else if (["e", "se"].includes(request.command)) respond("acquired tok1 20")
  else respond("ok")
}

const withMock = async (
  handler: (request: Request, respond: (line: string) => void) => void,
  test: (mock: Mock) => Promise<void>
) => {
  const mock = await mockServer(handler)
  try {
    await test(mock)
  } finally {
    await mock.close()
  }
}

const commands = (mock: Mock) => mock.requests.map((r) => `${r.command} ${r.key} ${r.arg}`)

// ---------------------------------------------------------------------------
// fields, defaults, validation
// ---------------------------------------------------------------------------

describe("dflockd-client 1.11 compatibility", () => {
  describe("fields and defaults", () => {
    it("has 1.11's readable properties and defaults", () => {
      const lock = new DistributedLock({ key: "k" })
      assert.strictEqual(lock.key, "k")
      assert.strictEqual(lock.acquireTimeoutS, 10)
      assert.isUndefined(lock.leaseTtlS)
      assert.deepStrictEqual(lock.servers, [["127.0.0.1", 6388]])
      assert.strictEqual(lock.shardingStrategy, stableHashShard)
      assert.strictEqual(lock.renewRatio, 0.5)
      assert.isUndefined(lock.tls)
      assert.isUndefined(lock.auth)
      assert.isUndefined(lock.onLockLost)
      assert.isUndefined(lock.connectTimeoutMs)
      assert.isUndefined(lock.socketTimeoutMs)
      assert.strictEqual(lock.serverReadTimeoutMs, 23_000, "not in 1.11: the Go server's --read-timeout default")
      assert.isNull(lock.token)
      assert.strictEqual(lock.lease, 0)
    })

    it("keeps every option as given", () => {
      const onLockLost = () => {}
      const strategy = () => 0
      const tls = {}
      const lock = new DistributedLock({
        key: "k",
        acquireTimeoutS: 3,
        leaseTtlS: 7,
        servers: [["10.0.0.1", 7000], ["10.0.0.2", 7001]],
        shardingStrategy: strategy,
        renewRatio: 0.25,
        tls,
        auth: "s3cret",
        onLockLost,
        connectTimeoutMs: 1234,
        socketTimeoutMs: 5678,
        serverReadTimeoutMs: 9000
      })
      assert.strictEqual(lock.acquireTimeoutS, 3)
      assert.strictEqual(lock.leaseTtlS, 7)
      assert.deepStrictEqual(lock.servers, [["10.0.0.1", 7000], ["10.0.0.2", 7001]])
      assert.strictEqual(lock.shardingStrategy, strategy)
      assert.strictEqual(lock.renewRatio, 0.25)
      assert.strictEqual(lock.tls, tls)
      assert.strictEqual(lock.auth, "s3cret")
      assert.strictEqual(lock.onLockLost, onLockLost)
      assert.strictEqual(lock.connectTimeoutMs, 1234)
      assert.strictEqual(lock.socketTimeoutMs, 5678)
      assert.strictEqual(lock.serverReadTimeoutMs, 9000)
      const sem = new DistributedSemaphore({ key: "s", limit: 3 })
      assert.strictEqual(sem.limit, 3)
      assert.strictEqual(sem.serverReadTimeoutMs, 23_000)
      assert.strictEqual(
        new DistributedSemaphore({ key: "s", limit: 3, serverReadTimeoutMs: 1 }).serverReadTimeoutMs,
        1
      )
    })

    it("deprecated host/port map to servers; servers wins when both are given", () => {
      assert.deepStrictEqual(new DistributedLock({ key: "k", host: "10.0.0.9", port: 7000 }).servers, [[
        "10.0.0.9",
        7000
      ]])
      assert.deepStrictEqual(new DistributedLock({ key: "k", port: 7000 }).servers, [["127.0.0.1", 7000]])
      assert.deepStrictEqual(new DistributedLock({ key: "k", host: "10.0.0.9" }).servers, [["10.0.0.9", 6388]])
      assert.deepStrictEqual(
        new DistributedLock({ key: "k", host: "10.0.0.9", port: 7000, servers: [["10.0.0.1", 6388]] }).servers,
        [["10.0.0.1", 6388]]
      )
    })

    it("lease is writable and reset to 0 by close()", () => {
      const lock = new DistributedLock({ key: "k" })
      lock.lease = 42
      assert.strictEqual(lock.lease, 42)
      lock.close()
      assert.strictEqual(lock.lease, 0)
    })

    it("the constructor validates as 1.11 does, with its messages", () => {
      const cases: ReadonlyArray<readonly [() => unknown, string]> = [
        [() => new DistributedLock({ key: "" }), "key must not be empty"],
        [
          () => new DistributedLock({ key: "a\nb" }),
          "key must not contain NUL, newline, or carriage return characters"
        ],
        [
          () => new DistributedLock({ key: "a\0b" }),
          "key must not contain NUL, newline, or carriage return characters"
        ],
        [() => new DistributedLock({ key: "k", acquireTimeoutS: -1 }), "acquireTimeoutS must be a finite number >= 0"],
        [
          () => new DistributedLock({ key: "k", acquireTimeoutS: Number.POSITIVE_INFINITY }),
          "acquireTimeoutS must be a finite number >= 0"
        ],
        [
          () => new DistributedLock({ key: "k", acquireTimeoutS: Number.NaN }),
          "acquireTimeoutS must be a finite number >= 0"
        ],
        [() => new DistributedLock({ key: "k", leaseTtlS: 0 }), "leaseTtlS must be an integer >= 1"],
        [() => new DistributedLock({ key: "k", leaseTtlS: 2.5 }), "leaseTtlS must be an integer >= 1"],
        [() => new DistributedLock({ key: "k", servers: [] }), "servers list must not be empty"],
        [
          () => new DistributedLock({ key: "k", renewRatio: 0 }),
          "renewRatio must be a finite number between 0 and 1 (exclusive)"
        ],
        [
          () => new DistributedLock({ key: "k", renewRatio: 1 }),
          "renewRatio must be a finite number between 0 and 1 (exclusive)"
        ],
        [
          () => new DistributedLock({ key: "k", renewRatio: Number.NaN }),
          "renewRatio must be a finite number between 0 and 1 (exclusive)"
        ],
        [() => new DistributedSemaphore({ key: "k", limit: 0 }), "limit must be an integer >= 1"],
        [() => new DistributedSemaphore({ key: "k", limit: 2.5 }), "limit must be an integer >= 1"]
      ]
      for (const [construct, message] of cases) {
        let thrown: unknown
        try {
          construct()
        } catch (error) {
          thrown = error
        }
        assert.instanceOf(thrown, LockError, message)
        assert.strictEqual((thrown as LockError).message, message)
      }
    })

    it("serverReadTimeoutMs (this client's own option) is checked in 1.11's style: an integer >= 1", () => {
      const invalid: ReadonlyArray<unknown> = [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "23000", true]
      for (const serverReadTimeoutMs of invalid) {
        for (
          const construct of [
            () => new DistributedLock({ key: "k", serverReadTimeoutMs: serverReadTimeoutMs as number }),
            () => new DistributedSemaphore({ key: "k", limit: 2, serverReadTimeoutMs: serverReadTimeoutMs as number })
          ]
        ) {
          let thrown: unknown
          try {
            construct()
          } catch (error) {
            thrown = error
          }
          assert.instanceOf(thrown, LockError, String(serverReadTimeoutMs))
          assert.strictEqual((thrown as LockError).message, "serverReadTimeoutMs must be an integer >= 1")
        }
      }
      assert.strictEqual(new DistributedLock({ key: "k", serverReadTimeoutMs: undefined }).serverReadTimeoutMs, 23_000)
    })

    it("tls options this transport cannot honour are refused at construction, not ignored", () => {
      let thrown: unknown
      try {
        new DistributedLock({ key: "k", tls: { minVersion: "TLSv1.3" } })
      } catch (error) {
        thrown = error
      }
      assert.instanceOf(thrown, LockError)
      assert.include((thrown as LockError).message, "minVersion")
      // the supported ones (and 1.11's ignored host/port) are accepted
      new DistributedLock({ key: "k", tls: { ca: "PEM", servername: "locks", rejectUnauthorized: true, host: "x" } })
    })
  })

  // ---------------------------------------------------------------------------
  // errors
  // ---------------------------------------------------------------------------

  describe("error classes", () => {
    it("have 1.11's names, messages and instanceof chain", () => {
      const timeout = new AcquireTimeoutError("my-key")
      const auth = new AuthError()
      const base = new LockError("boom")
      assert.strictEqual(timeout.message, "timeout acquiring 'my-key'")
      assert.strictEqual(timeout.name, "AcquireTimeoutError")
      assert.strictEqual(auth.message, "authentication failed")
      assert.strictEqual(auth.name, "AuthError")
      assert.strictEqual(base.name, "LockError")
      for (const error of [timeout, auth, base]) {
        assert.instanceOf(error, LockError)
        assert.instanceOf(error, Error)
      }
      assert.notInstanceOf(auth, AcquireTimeoutError)
      assert.notInstanceOf(timeout, AuthError)
    })

    it("a server that refuses the token gives AuthError; the token never appears in an error", async () => {
      await withMock(
        (request, respond) => respond(request.command === "auth" ? "error_auth" : "ok tok1 20"),
        async (mock) => {
          const lock = new DistributedLock({ key: "k", port: mock.port, auth: "top-secret-token" })
          const error = await rejection(lock.acquire())
          assert.instanceOf(error, AuthError)
          // 1.11's words, then the reason
          assert.strictEqual(
            (error as AuthError).message,
            `authentication failed: authentication rejected by 127.0.0.1:${mock.port}: the auth token is wrong, ` +
              "or missing where the server requires one (--auth-token)"
          )
          assert.notInclude(JSON.stringify(String(error)), "top-secret-token")
          assert.deepStrictEqual(commands(mock), ["auth _ top-secret-token"])
        }
      )
    })

    it("other failures are LockError naming the cause (server refusal, bad reply, connection refused)", async () => {
      await withMock(
        (request, respond) => respond(request.command === "auth" ? "ok" : "error_max_locks"),
        async (mock) => {
          const error = await rejection(new DistributedLock({ key: "k", port: mock.port, auth: "hidden" }).acquire())
          assert.instanceOf(error, LockError)
          assert.notInstanceOf(error, AuthError)
          assert.include((error as LockError).message, "max_locks")
          assert.notInclude((error as LockError).message, "hidden")
        }
      )
      await withMock((_request, respond) => respond("ok"), async (mock) => {
        const error = await rejection(new DistributedLock({ key: "k", port: mock.port }).acquire())
        assert.instanceOf(error, LockError)
        assert.include((error as LockError).message, "protocol error")
      })
      const closed = await mockServer(() => {})
      await closed.close()
      const refused = await rejection(new DistributedLock({ key: "k", port: closed.port }).acquire())
      assert.instanceOf(refused, LockError)
      assert.include((refused as LockError).message, `127.0.0.1:${closed.port}`)
    })
  })

  // ---------------------------------------------------------------------------
  // the lifecycle against mock servers
  // ---------------------------------------------------------------------------

  describe("DistributedLock and DistributedSemaphore with mock servers", () => {
    it("host/port are honoured: a semaphore talks to the given port", async () => {
      await withMock(grantAll, async (mock) => {
        const sem = new DistributedSemaphore({ key: "pool", limit: 3, host: "127.0.0.1", port: mock.port })
        assert.isTrue(await sem.acquire())
        assert.strictEqual(sem.token, "tok1")
        assert.strictEqual(sem.lease, 20)
        await sem.release()
        assert.deepStrictEqual(commands(mock), ["sl pool 10 3", "sr pool tok1"])
      })
    })

    it("accepts a mock's token (ok tok1 20): token, lease, release, then null and closed", async () => {
      await withMock(grantAll, async (mock) => {
        const lock = new DistributedLock({ key: "k", port: mock.port, leaseTtlS: 20, acquireTimeoutS: 5 })
        assert.isTrue(await lock.acquire())
        assert.strictEqual(lock.token, "tok1")
        assert.strictEqual(lock.lease, 20)
        await lock.release()
        assert.isNull(lock.token)
        assert.strictEqual(lock.lease, 0)
        assert.deepStrictEqual(commands(mock), ["l k 5 20", "r k tok1"])
        assert.instanceOf(await rejection(lock.release()), LockError, "double release")
        const again = await rejection(lock.release())
        assert.strictEqual((again as LockError).message, "not connected; nothing to release")
      })
    })

    it("release() and wait() after close() reject; close() is idempotent; acquire() works again", async () => {
      await withMock(grantAll, async (mock) => {
        const lock = new DistributedLock({ key: "k", port: mock.port })
        lock.close()
        lock.close()
        assert.strictEqual((await rejection(lock.release()) as LockError).message, "not connected; nothing to release")
        assert.strictEqual(
          (await rejection(lock.wait()) as LockError).message,
          "connection closed; call enqueue() again"
        )
        assert.isTrue(await lock.acquire())
        lock.close()
        lock.close()
        assert.isNull(lock.token)
        assert.strictEqual(lock.lease, 0)
        const fresh = new DistributedLock({ key: "k", port: mock.port })
        assert.strictEqual((await rejection(fresh.wait()) as LockError).message, "not connected; call enqueue() first")
        await fresh.release() // 1.11: releasing a fresh instance is a no-op that closes it
        assert.instanceOf(await rejection(fresh.release()), LockError)
      })
    })

    it("close() sends no release: the connection ends and the server frees the lock", async () => {
      await withMock(grantAll, async (mock) => {
        const lock = new DistributedLock({ key: "k", port: mock.port })
        assert.isTrue(await lock.acquire())
        lock.close()
        await until(() => mock.connections.ended === mock.connections.opened, "the connection to close")
        assert.deepStrictEqual(commands(mock), ["l k 10"])
      })
    })

    it("close() during withLock's fn closes the connection at once, sends no release, and rejects once fn settles", async () => {
      await withMock(grantAll, async (mock) => {
        const lock = new DistributedLock({ key: "k", port: mock.port })
        let aborted = false
        let closedDuringFn = false
        const outcome = rejection(lock.withLock(async (signal) => {
          signal.addEventListener("abort", () => aborted = true)
          await sleep(10)
          lock.close()
          await until(() => mock.connections.ended === mock.connections.opened, "the connection to close")
          closedDuringFn = true
          return "done"
        }))
        const error = await outcome
        assert.isTrue(closedDuringFn, "closed while fn still ran")
        assert.isFalse(aborted, "close() is not a loss: fn's signal is left alone")
        assert.strictEqual((error as LockError).message, "not connected; nothing to release")
        assert.deepStrictEqual(commands(mock), ["l k 10"])
      })
    })

    it("acquire()/enqueue() while connected reject unless { force: true }, which closes first", async () => {
      await withMock(grantAll, async (mock) => {
        const lock = new DistributedLock({ key: "k", port: mock.port })
        assert.isTrue(await lock.acquire())
        const error = await rejection(lock.acquire())
        assert.strictEqual(
          (error as LockError).message,
          "already connected; call release() or close() first, or pass { force: true }"
        )
        assert.instanceOf(await rejection(lock.enqueue()), LockError)
        assert.isTrue(await lock.acquire({ force: true }))
        assert.strictEqual(lock.token, "tok1")
        assert.strictEqual(await lock.enqueue({ force: true }), "acquired")
        await lock.release()
        await until(() => mock.connections.ended >= 2, "the forced connections to close")
        // no release for the forced ones; after `acquired` the core completes the exchange with `w k 0`
        assert.deepStrictEqual(commands(mock), ["l k 10", "l k 10", "e k ", "w k 0", "r k tok1"])
      })
    })

    it("timeout: acquire() resolves false (and closes), withLock rejects with AcquireTimeoutError", async () => {
      await withMock((_request, respond) => respond("timeout"), async (mock) => {
        const lock = new DistributedLock({ key: "busy", port: mock.port, acquireTimeoutS: 1 })
        assert.isFalse(await lock.acquire())
        assert.instanceOf(await rejection(lock.release()), LockError, "closed after the timeout, as 1.11")
        const error = await rejection(lock.withLock(() => "never"))
        assert.instanceOf(error, AcquireTimeoutError)
        assert.strictEqual((error as AcquireTimeoutError).message, "timeout acquiring 'busy'")
      })
    })

    it("withLock: returns fn's value; fn's error wins over a failed release", async () => {
      await withMock((request, respond) => {
        if (request.command === "l") respond("ok tok1 30")
        else respond("error_something")
      }, async (mock) => {
        const lock = new DistributedLock({ key: "k", port: mock.port })
        assert.strictEqual(await lock.withLock(() => 42), 42)
        const error = await rejection(lock.withLock(async () => {
          throw new Error("original error")
        }))
        assert.strictEqual((error as Error).message, "original error")
      })
    })

    it("enqueue: queued, then wait() is granted with the mock's token", async () => {
      await withMock((request, respond) => {
        if (request.command === "e") respond("queued")
        else if (request.command === "w") setTimeout(() => respond("ok tok2 15"), 50)
        else respond("ok")
      }, async (mock) => {
        const lock = new DistributedLock({ key: "k", port: mock.port })
        assert.strictEqual(await lock.enqueue(), "queued")
        assert.isNull(lock.token)
        assert.isTrue(await lock.wait(5))
        assert.strictEqual(lock.token, "tok2")
        assert.strictEqual(lock.lease, 15)
        assert.isTrue(await lock.wait(), "already held: true at once")
        await lock.release()
        assert.deepStrictEqual(commands(mock), ["e k ", "w k 5", "r k tok2"])
        assert.strictEqual(new Set(mock.requests.map((r) => r.connection)).size, 1, "e and w on one connection")
      })
    })

    it("wait() timeout resolves false and closes", async () => {
      await withMock((request, respond) => respond(request.command === "e" ? "queued" : "timeout"), async (mock) => {
        const lock = new DistributedLock({ key: "k", port: mock.port })
        assert.strictEqual(await lock.enqueue(), "queued")
        assert.isFalse(await lock.wait(1))
        assert.strictEqual(
          (await rejection(lock.wait()) as LockError).message,
          "connection closed; call enqueue() again"
        )
      })
    })

    it("a failed renewal calls onLockLost(key, token), resets token and lease, and allows acquire() again", async () => {
      let grants = 0
      await withMock((request, respond) => {
        if (request.command === "l") respond(++grants === 1 ? "ok tok1 1" : "ok tok9 30")
        else if (request.command === "n") respond("error_expired")
        else respond("ok")
      }, async (mock) => {
        const lost: Array<[string, string]> = []
        const lock = new DistributedLock({
          key: "k",
          port: mock.port,
          renewRatio: 0.01,
          onLockLost: (key, token) => lost.push([key, token])
        })
        assert.isTrue(await lock.acquire())
        assert.strictEqual(lock.token, "tok1")
        await until(() => lost.length > 0, "onLockLost")
        assert.deepStrictEqual(lost, [["k", "tok1"]])
        assert.isNull(lock.token)
        assert.strictEqual(lock.lease, 0)
        assert.isTrue(await lock.acquire(), "no 'already connected' after a lost lease")
        assert.strictEqual(lock.token, "tok9")
        lock.close()
        assert.notInclude(commands(mock), "r k tok1", "a lost lease is not released")
      })
    })

    it("socketTimeoutMs: a renewal the server never answers fails, and onLockLost fires", async () => {
      await withMock((request, respond) => {
        if (request.command === "l") respond("ok tok1 2")
        // renewals are never answered
      }, async (mock) => {
        const lost: Array<string> = []
        const lock = new DistributedLock({
          key: "k",
          port: mock.port,
          socketTimeoutMs: 200,
          renewRatio: 0.1,
          onLockLost: (_key, token) => lost.push(token)
        })
        const started = performance.now()
        assert.isTrue(await lock.acquire())
        await until(() => lost.length > 0, "onLockLost after the socket timeout")
        assert.isBelow(performance.now() - started, 1900, "before the 2 s lease ran out")
        assert.deepStrictEqual(lost, ["tok1"])
        assert.isNull(lock.token)
        assert.include(commands(mock), "n k tok1 2")
      })
    })

    it("onLockLost errors are logged, never thrown", async () => {
      await withMock((request, respond) => respond(request.command === "l" ? "ok tok1 1" : "error"), async (mock) => {
        let called = 0
        const lock = new DistributedLock({
          key: "k",
          port: mock.port,
          renewRatio: 0.01,
          onLockLost: () => {
            called++
            throw new Error("callback bug")
          }
        })
        assert.isTrue(await lock.acquire())
        await until(() => called > 0, "onLockLost")
        assert.isNull(lock.token)
      })
    })

    it("shardingStrategy picks the server; an invalid index rejects with 1.11's message", async () => {
      const first = await mockServer(grantAll)
      const second = await mockServer(grantAll)
      try {
        const servers: Array<[string, number]> = [["127.0.0.1", first.port], ["127.0.0.1", second.port]]
        const lock = new DistributedLock({ key: "k", servers, shardingStrategy: () => 1 })
        assert.isTrue(await lock.acquire())
        await lock.release()
        assert.strictEqual(first.requests.length, 0)
        assert.deepStrictEqual(commands(second), ["l k 10", "r k tok1"])
        const bad = new DistributedLock({ key: "k", servers, shardingStrategy: () => 2 })
        assert.strictEqual(
          (await rejection(bad.acquire()) as LockError).message,
          "shardingStrategy returned invalid index 2 for 2 server(s)"
        )
        const hashed = new DistributedLock({ key: "my-key", servers })
        assert.isTrue(await hashed.acquire())
        await hashed.release()
        const owner = Sharding.stableHashShard("my-key", 2) === 0 ? first : second
        assert.include(commands(owner), "l my-key 10")
      } finally {
        await first.close()
        await second.close()
      }
    })

    it("instances with the same configuration share connections; a different auth does not", async () => {
      await withMock(grantAll, async (mock) => {
        for (let i = 0; i < 5; i++) {
          const lock = new DistributedLock({ key: `k${i}`, port: mock.port })
          await lock.withLock(() => undefined)
        }
        assert.strictEqual(mock.connections.opened, 1, "one pooled connection for five instances")
        const other = new DistributedLock({ key: "k", port: mock.port, auth: "another" })
        await other.withLock(() => undefined)
        assert.strictEqual(mock.connections.opened, 2)
        // withLock's release is pipelined: it reaches the server just after withLock resolves
        await until(() => mock.requests.filter((r) => r.connection === 2).length === 3, "the release arrived", 3000)
        assert.deepStrictEqual(mock.requests.filter((r) => r.connection === 2).map((r) => r.command), [
          "auth",
          "l",
          "r"
        ])
      })
    })
  })

  describe("serverReadTimeoutMs with mock servers", () => {
    it("reaches the core: renewals unanswered, the lease is lost well before its 20 s, within about the read timeout", async () => {
      await withMock((request, respond) => {
        if (request.command === "l") respond("ok tok1 20")
        // renewals (heartbeats) are never answered
      }, async (mock) => {
        const lost: Array<string> = []
        const lock = new DistributedLock({
          key: "k",
          port: mock.port,
          serverReadTimeoutMs: 900,
          onLockLost: (_key, token) => lost.push(token)
        })
        const started = performance.now()
        assert.isTrue(await lock.acquire())
        await until(() => lost.length > 0, "onLockLost after the read timeout", 5000)
        assert.isBelow(performance.now() - started, 2500, "heartbeats every third of 900 ms, not of 23 s")
        assert.deepStrictEqual(lost, ["tok1"])
        assert.include(commands(mock), "n k tok1 20", "a heartbeat was sent")
      })
    })

    it("the default (23 s) sends no heartbeat within a second", async () => {
      await withMock(grantAll, async (mock) => {
        const lock = new DistributedLock({ key: "k", port: mock.port })
        assert.isTrue(await lock.acquire())
        await sleep(1000)
        assert.deepStrictEqual(commands(mock), ["l k 10"])
        await lock.release()
      })
    })

    it("instances with different serverReadTimeoutMs do not share a runtime (nor its connections)", async () => {
      await withMock(grantAll, async (mock) => {
        for (let i = 0; i < 3; i++) {
          await new DistributedLock({ key: `a${i}`, port: mock.port, serverReadTimeoutMs: 23_000 }).withLock(() => {})
        }
        assert.strictEqual(mock.connections.opened, 1, "23000 is the default's runtime")
        await new DistributedLock({ key: "b", port: mock.port }).withLock(() => {})
        assert.strictEqual(mock.connections.opened, 1, "the default is 23000: the same runtime")
        await new DistributedLock({ key: "c", port: mock.port, serverReadTimeoutMs: 30_000 }).withLock(() => {})
        assert.strictEqual(mock.connections.opened, 2, "another read timeout: another runtime")
      })
    })
  })

  // ---------------------------------------------------------------------------
  // stats, stableHashShard
  // ---------------------------------------------------------------------------

  describe("stats and stableHashShard", () => {
    it("stats() sends stats and returns 1.11's shape", async () => {
      const json = JSON.stringify({
        connections: 2,
        locks: [{ key: "a", owner_conn_id: 1, lease_expires_in_s: 12.5, waiters: 1 }],
        semaphores: [{ key: "s", limit: 3, holders: 1, waiters: 0 }]
      })
      await withMock((_request, respond) => respond(`ok ${json}`), async (mock) => {
        const s = await stats({ host: "127.0.0.1", port: mock.port, connectTimeoutMs: 1000 })
        assert.deepStrictEqual(s, {
          connections: 2,
          locks: [{ key: "a", owner_conn_id: 1, lease_expires_in_s: 12.5, waiters: 1 }],
          semaphores: [{ key: "s", limit: 3, holders: 1, waiters: 0 }],
          idle_locks: [],
          idle_semaphores: []
        })
        assert.deepStrictEqual(mock.requests.map((r) => r.command), ["stats"])
      })
      await withMock((_request, respond) => respond("error"), async (mock) => {
        assert.instanceOf(await rejection(stats({ port: mock.port })), LockError)
      })
    })

    it("stableHashShard: CRC-32 mod n (PROTOCOL.md §10); numServers <= 0 throws 1.11's LockError", () => {
      assert.strictEqual(stableHashShard("my-key", 3), 2)
      assert.strictEqual(stableHashShard("日本語", 5), 0)
      assert.strictEqual(stableHashShard("🔒", 5), 4)
      for (const n of [0, -1]) {
        let thrown: unknown
        try {
          stableHashShard("k", n)
        } catch (error) {
          thrown = error
        }
        assert.instanceOf(thrown, LockError)
        assert.strictEqual((thrown as LockError).message, "numServers must be greater than 0")
      }
    })
  })

  // ---------------------------------------------------------------------------
  // low-level functions
  // ---------------------------------------------------------------------------

  describe("low-level protocol functions", () => {
    const connect = async (port: number) => {
      const sock = Net.createConnection({ host: "127.0.0.1", port })
      await new Promise<void>((resolve, reject) => {
        sock.once("connect", resolve)
        sock.once("error", reject)
      })
      return sock
    }

    const scripted = (replies: Record<string, string>) => (request: Request, respond: (line: string) => void) => {
      const reply = replies[request.command]
      if (reply !== undefined) respond(reply)
    }

    it("send 1.11's frames and return its results", async () => {
      await withMock(
        scripted({
          l: "ok abc123 30",
          n: "ok 45",
          r: "ok",
          e: "acquired tok1 25",
          w: "ok tok2 15",
          sl: "ok semtok 20",
          sn: "ok",
          sr: "ok",
          se: "queued",
          sw: "ok stok2 12"
        }),
        async (mock) => {
          const sock = await connect(mock.port)
          try {
            assert.deepStrictEqual(await acquire(sock, "k", 10), { token: "abc123", lease: 30 })
            assert.deepStrictEqual(await acquire(sock, "k", 0, 20), { token: "abc123", lease: 30 })
            assert.strictEqual(await renew(sock, "k", "abc123", 45), 45)
            assert.isUndefined(await release(sock, "k", "abc123"))
            assert.deepStrictEqual(await enqueue(sock, "k", 25), { status: "acquired", token: "tok1", lease: 25 })
            assert.deepStrictEqual(await enqueue(sock, "k"), { status: "acquired", token: "tok1", lease: 25 })
            assert.deepStrictEqual(await waitForLock(sock, "k", 5), { token: "tok2", lease: 15 })
            assert.deepStrictEqual(await semAcquire(sock, "s", 10, 3), { token: "semtok", lease: 20 })
            assert.deepStrictEqual(await semAcquire(sock, "s", 10, 3, 20), { token: "semtok", lease: 20 })
            assert.strictEqual(await semRenew(sock, "s", "semtok"), 30, "bare ok: leaseTtlS ?? 30")
            assert.strictEqual(await semRenew(sock, "s", "semtok", 7), 7)
            assert.deepStrictEqual(await semEnqueue(sock, "s", 3), { status: "queued", token: null, lease: null })
            assert.deepStrictEqual(await semEnqueue(sock, "s", 3, 9), { status: "queued", token: null, lease: null })
            assert.deepStrictEqual(await semWaitForLock(sock, "s", 5), { token: "stok2", lease: 12 })
            assert.isUndefined(await semRelease(sock, "s", "semtok"))
          } finally {
            sock.destroy()
          }
          assert.deepStrictEqual(commands(mock), [
            "l k 10",
            "l k 0 20",
            "n k abc123 45",
            "r k abc123",
            "e k 25",
            "e k ",
            "w k 5",
            "sl s 10 3",
            "sl s 10 3 20",
            "sn s semtok",
            "sn s semtok 7",
            "se s 3",
            "se s 3 9",
            "sw s 5",
            "sr s semtok"
          ])
        }
      )
    })

    it("parse leases as 1.11 (missing or malformed: 30; 0 kept) and reject what it rejects", async () => {
      const replies = ["ok abc123", "ok abc123 notanumber", "ok abc123 -5", "ok abc123 0", "timeout", "error", "ok"]
      let next = 0
      await withMock((_request, respond) => respond(replies[next++] ?? "error"), async (mock) => {
        const sock = await connect(mock.port)
        try {
          assert.strictEqual((await acquire(sock, "k", 1)).lease, 30)
          assert.strictEqual((await acquire(sock, "k", 1)).lease, 30)
          assert.strictEqual((await acquire(sock, "k", 1)).lease, 30)
          assert.strictEqual((await acquire(sock, "k", 1)).lease, 0)
          const timeout = await rejection(acquire(sock, "k", 1))
          assert.instanceOf(timeout, AcquireTimeoutError)
          assert.strictEqual((timeout as AcquireTimeoutError).message, "timeout acquiring 'k'")
          assert.strictEqual((await rejection(acquire(sock, "k", 1)) as LockError).message, "acquire failed: 'error'")
          assert.strictEqual((await rejection(acquire(sock, "k", 1)) as LockError).message, "acquire failed: 'ok'")
        } finally {
          sock.destroy()
        }
      })
    })

    it("validate their arguments before any I/O, with 1.11's messages", async () => {
      const sock = new Net.Socket()
      const cases: ReadonlyArray<readonly [Promise<unknown>, string]> = [
        [acquire(sock, "", 1), "key must not be empty"],
        [acquire(sock, "a\nb", 1), "key must not contain NUL, newline, or carriage return characters"],
        [acquire(sock, "k", -1), "acquireTimeoutS must be an integer >= 0"],
        [acquire(sock, "k", 1, 0), "leaseTtlS must be an integer >= 1"],
        [renew(sock, "k", ""), "token must not be empty"],
        [release(sock, "k", "a\rb"), "token must not contain NUL, newline, or carriage return characters"],
        [waitForLock(sock, "k", Number.NaN), "waitTimeoutS must be an integer >= 0"],
        [semAcquire(sock, "k", 1, 0), "limit must be an integer >= 1"],
        [semEnqueue(sock, "k", 1.5), "limit must be an integer >= 1"]
      ]
      for (const [promise, message] of cases) {
        const error = await rejection(promise)
        assert.instanceOf(error, LockError)
        assert.strictEqual((error as LockError).message, message)
      }
      sock.destroy()
    })

    it("reject with LockError when the server closes the connection", async () => {
      await withMock((_request, _respond) => {}, async (mock) => {
        const sock = await connect(mock.port)
        const pending = acquire(sock, "k", 10)
        await until(() => mock.requests.length === 1, "the request")
        await mock.close()
        const error = await rejection(pending)
        assert.instanceOf(error, LockError)
        assert.strictEqual((error as LockError).message, "server closed connection")
        sock.destroy()
      })
    })
  })

  // ---------------------------------------------------------------------------
  // the real server
  // ---------------------------------------------------------------------------

  describe(`the real server (${server.address})`, () => {
    const servers: Array<[string, number]> = [[server.host, server.port]]

    it("1.11's usage pattern: a new instance per lock, FIFO, token and lease", async () => {
      const key = freshKey("pattern")
      const holder = new DistributedLock({ key, servers, leaseTtlS: 10 })
      assert.isTrue(await holder.acquire())
      assert.match(holder.token ?? "", /^[0-9a-f]{32}$/)
      assert.strictEqual(holder.lease, 10)
      const order: Array<number> = []
      const waiters = [1, 2, 3].map(() => new DistributedLock({ key, servers, acquireTimeoutS: 10 }))
      const runs: Array<Promise<void>> = []
      for (const [i, waiter] of waiters.entries()) {
        runs.push(waiter.withLock(() => void order.push(i)))
        await sleep(50)
      }
      await holder.release()
      await Promise.all(runs)
      assert.deepStrictEqual(order, [0, 1, 2])
      const busy = new DistributedLock({ key, servers, acquireTimeoutS: 0 })
      const again = new DistributedLock({ key, servers })
      assert.isTrue(await again.acquire())
      assert.isFalse(await busy.acquire())
      again.close()
      // close() sent no release; the server frees the key when the connection ends
      const after = new DistributedLock({ key, servers, acquireTimeoutS: 2 })
      assert.isTrue(await after.acquire())
      await after.release()
    })

    it("two-phase enqueue/wait against the server", async () => {
      const key = freshKey("two-phase")
      const holder = new DistributedLock({ key, servers })
      assert.strictEqual(await holder.enqueue(), "acquired")
      const waiter = new DistributedLock({ key, servers })
      assert.strictEqual(await waiter.enqueue(), "queued")
      const granted = waiter.wait(5)
      await sleep(50)
      await holder.release()
      assert.isTrue(await granted)
      assert.match(waiter.token ?? "", /^[0-9a-f]{32}$/)
      await waiter.release()
    })

    it("low-level functions over a socket you own", async () => {
      const key = freshKey("low-level")
      const sock = Net.createConnection({ host: server.host, port: server.port })
      await new Promise<void>((resolve) => sock.once("connect", resolve))
      try {
        const grant = await acquire(sock, key, 1, 10)
        assert.match(grant.token, /^[0-9a-f]{32}$/)
        assert.strictEqual(grant.lease, 10)
        assert.isNumber(await renew(sock, key, grant.token, 10))
        await release(sock, key, grant.token)
        assert.instanceOf(await rejection(release(sock, key, grant.token)), LockError, "not held any more")
        const queued = await enqueue(sock, key)
        assert.strictEqual(queued.status, "acquired")
        const held = await waitForLock(sock, key, 1)
        assert.strictEqual(held.token, queued.token)
        await release(sock, key, held.token)
      } finally {
        sock.destroy()
      }
    })

    it("semaphores and stats where the server has them; LockError where it refuses them", async () => {
      const key = freshKey("sem")
      const sem = new DistributedSemaphore({ key, limit: 2, servers, acquireTimeoutS: 1 })
      const other = new DistributedSemaphore({ key, limit: 2, servers, acquireTimeoutS: 1 })
      const third = new DistributedSemaphore({ key, limit: 2, servers, acquireTimeoutS: 0 })
      if (!has("semaphores") || !has("stats")) {
        console.log(`${server.address} has no semaphores/stats: asserting the refusal`)
        const error = await rejection(sem.acquire())
        assert.instanceOf(error, LockError)
        assert.notInstanceOf(error, AcquireTimeoutError)
        return
      }
      assert.isTrue(await sem.acquire())
      assert.isTrue(await other.acquire())
      assert.isFalse(await third.acquire())
      const s = await stats({ host: server.host, port: server.port })
      const entry = s.semaphores.find((x) => x.key === key)
      assert.deepStrictEqual(entry && { limit: entry.limit, holders: entry.holders }, { limit: 2, holders: 2 })
      await sem.release()
      await other.release()
    })
  })
})
