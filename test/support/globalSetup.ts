/**
 * Vitest global setup: one real dflockd server for the whole run, on a free
 * loopback port, and a description of what that server can do. Tests read its
 * address with `inject("dflockd")` and its capabilities through
 * `test/support/server.ts`; tests that need special flags (short read timeout,
 * kill/restart, auth, TLS) start their own with `startServer` from
 * scripts/dflockd-server.ts. `DFLOCKD_BIN` selects the server binary.
 */
import type { TestProject } from "vitest/node"
import { describeServer, type ServerDescription, startServer } from "../../scripts/dflockd-server.ts"

export interface ServerInfo {
  readonly host: string
  readonly port: number
  readonly address: string
}

declare module "vitest" {
  export interface ProvidedContext {
    dflockd: ServerInfo
    dflockdServer: ServerDescription
  }
}

export default async function setup(project: TestProject) {
  const server = await startServer({ "default-lease-ttl": 5 })
  const description = await describeServer(server)
  process.stdout.write(
    `\ndflockd under test: ${description.label} (${description.binary})\n` +
      `  capabilities: ${description.capabilities.join(", ") || "none beyond l r n e w"}\n\n`
  )
  project.provide("dflockd", { host: server.host, port: server.port, address: server.address })
  project.provide("dflockdServer", description)
  return async () => {
    await server.stop()
  }
}
