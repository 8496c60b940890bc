/**
 * What a held lease costs the garbage collector. A lease that gets a hidden
 * class of its own (as an object literal with a getter does: the getter is a
 * closure per lease) is kept, with everything its closures reach, through
 * every young-generation collection until a full one: released leases are
 * promoted to the old generation instead of dying young, and each scavenge
 * copies them (3.7 % of the bytes a `Lock.withLock` loop allocates survived
 * each scavenge, against 0.05 % with one hidden class). Checked in a child
 * process, with V8's `%HaveSameMap`.
 */
import { spawn, spawnSync } from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "vitest"
import { startServer } from "../scripts/dflockd-server.ts"
import { server } from "./support/server.ts"

const support = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "support")
const script = Path.join(support, "leaseShapes.ts")

/** Runs a support script in its own process; its last stdout line, parsed. */
const runScript = (args: ReadonlyArray<string>, timeoutMillis: number): Promise<unknown> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMillis })
    let out = ""
    let err = ""
    child.stdout.on("data", (chunk: Buffer) => void (out += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => void (err += chunk.toString()))
    child.on("error", reject)
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`exit ${code}\n${out}\n${err}`))
      try {
        resolve(JSON.parse(out.trim().split("\n").at(-1) ?? ""))
      } catch (error) {
        reject(new Error(`${String(error)}\n${out}\n${err}`))
      }
    })
  })

interface Cycles {
  readonly count: number
  readonly baseline: number
  readonly cycles: ReadonlyArray<{ readonly entered: number; readonly held: number; readonly after: number }>
}

describe("heap", () => {
  it("every lease, of either kind and however acquired, shares one hidden class", () => {
    const result = spawnSync(process.execPath, ["--allow-natives-syntax", script], {
      encoding: "utf8",
      timeout: 30_000
    })
    assert.strictEqual(result.status, 0, `${result.stdout}\n${result.stderr}`)
    const line = result.stdout.trim().split("\n").at(-1) ?? ""
    assert.deepStrictEqual(JSON.parse(line), { count: 4, shared: true }, result.stdout)
  })

  // The pinned Python server takes minutes to accept 10,000 connections: 1,000 there
  const count = server.implementation === "go" ? 10_000 : 1_000
  it(
    `${
      count.toLocaleString("en")
    } locks held at once, released, three times: the heap returns to its baseline each time`,
    async () => {
      // a server of its own, with room for 10,000 keys (the Go server's default is 1,024)
      const own = await startServer(server.implementation === "go" ? { "max-locks": 30_000 } : {})
      try {
        const report = await runScript(
          ["--expose-gc", Path.join(support, "heldCycles.ts"), `${own.host}:${own.port}`, String(count), "3"],
          240_000
        ) as Cycles
        const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`
        console.log(
          `heap [${server.label}]: baseline ${mib(report.baseline)}; ` +
            report.cycles.map((c, i) =>
              `cycle ${i + 1}: held +${mib(c.held - report.baseline)} (${
                Math.round((c.held - report.baseline) / report.count)
              } B/lock), ` +
              `after release ${c.after >= report.baseline ? "+" : ""}${mib(c.after - report.baseline)}`
            ).join("; ")
        )
        assert.strictEqual(report.cycles.length, 3)
        for (const cycle of report.cycles) {
          assert.strictEqual(cycle.entered, count, "every region ran, all at once")
          const held = cycle.held - report.baseline
          assert.isAbove(held, count * 1024, "held locks cost heap (at least their sockets): the figure is real")
          // back to the baseline: at most a small fraction of what holding cost, and no drift across cycles
          assert.isBelow(
            cycle.after - report.baseline,
            Math.max(4 * 2 ** 20, held * 0.05),
            "released: back to baseline"
          )
        }
      } finally {
        await own.kill()
      }
    },
    300_000
  )
})
