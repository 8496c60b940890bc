/**
 * Vitest global setup: one real dflockd server for the whole run, on a free
 * loopback port. Tests read its address with `inject("dflockd")`; tests that need
 * special flags (short read timeout, kill/restart) start their own with
 * `startServer` from scripts/dflockd-server.ts.
 */
import type { TestProject } from "vitest/node"
import { startServer } from "../../scripts/dflockd-server.ts"

export interface ServerInfo {
  readonly host: string
  readonly port: number
  readonly address: string
}

declare module "vitest" {
  export interface ProvidedContext {
    dflockd: ServerInfo
  }
}

export default async function setup(project: TestProject) {
  const server = await startServer({ "default-lease-ttl": 5 })
  project.provide("dflockd", { host: server.host, port: server.port, address: server.address })
  return async () => {
    await server.stop()
  }
}
