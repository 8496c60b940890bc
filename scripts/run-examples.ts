/**
 * Runs the examples against real dflockd servers.
 *
 *   npm run example                 # every example under examples/ (and examples/promise/)
 *   npm run example -- basic-lock   # the examples whose path contains "basic-lock"
 *
 * When DFLOCKD_SERVERS is not set, three servers are started on free loopback
 * ports and DFLOCKD_SERVERS lists them (examples that need one server use the
 * first). Each example runs in its own Node process, like a user's program.
 */
import { spawn } from "node:child_process"
import { readdirSync } from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { describeServer, type ServerHandle, startServer } from "./dflockd-server.ts"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const filters = process.argv.slice(2)

const list = (dir: string): Array<string> =>
  readdirSync(Path.join(root, dir), { withFileTypes: true })
    .flatMap((entry) =>
      entry.isDirectory()
        ? list(Path.join(dir, entry.name))
        : entry.name.endsWith(".ts") && !entry.name.startsWith("_")
        ? [Path.join(dir, entry.name)]
        : []
    )
    .sort()

const examples = list("examples").filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)))
if (examples.length === 0) {
  console.error(`no example matches ${filters.join(", ")}`)
  process.exit(1)
}

const servers: Array<ServerHandle> = []
const env = { ...process.env }
if (env["DFLOCKD_SERVERS"] === undefined) {
  for (let i = 0; i < 3; i++) servers.push(await startServer({ "default-lease-ttl": 10 }))
  env["DFLOCKD_SERVERS"] = servers.map((s) => s.address).join(",")
  const described = await describeServer(servers[0]!)
  console.log(`examples against ${described.label} (${described.binary}): ${described.capabilities.join(", ")}`)
}

let failed = 0
try {
  for (const example of examples) {
    console.log(`\n=== ${example}`)
    const code = await new Promise<number | string>((resolve) => {
      const child = spawn(process.execPath, ["--conditions=effect-dflockd-source", example], {
        cwd: root,
        env,
        stdio: "inherit"
      })
      const timer = setTimeout(() => child.kill("SIGKILL"), 120_000)
      child.once("exit", (status, signal) => {
        clearTimeout(timer)
        resolve(status ?? signal ?? "unknown")
      })
    })
    if (code !== 0) {
      failed++
      console.error(`!!! ${example} exited with ${code}`)
    }
  }
} finally {
  await Promise.all(servers.map((s) => s.stop()))
}
console.log(`\n${examples.length - failed} examples passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
