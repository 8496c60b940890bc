/** Tools this project never builds or ships (the Go client's bench, dflockd-client 1.11), found through variables. */
import { existsSync } from "node:fs"
import * as Path from "node:path"

/** Where a tool this project never builds or ships was found, through an environment variable. */
export type Located = { readonly ok: true; readonly path: string } | { readonly ok: false; readonly reason: string }

const locate = (variable: string): Located => {
  const path = process.env[variable]
  if (path === undefined || path === "") return { ok: false, reason: `${variable} is not set` }
  if (!existsSync(path)) return { ok: false, reason: `${variable} names ${path}, which does not exist` }
  return { ok: true, path: Path.resolve(path) }
}

/**
 * The Go client's benchmark (`cmd/bench` in the Go server's source), named by
 * DFLOCKD_GO_BENCH: build it yourself beside the server; this project never
 * builds or ships it.
 */
export const ensureGoBench = (): Located => locate("DFLOCKD_GO_BENCH")

/**
 * dflockd-client 1.11, built from its public source, named by DFLOCKD_CLIENT_TS
 * (the path of its ESM entry, e.g. `dist/client.js`): never shipped here.
 */
export const ensureReference = (): Located => locate("DFLOCKD_CLIENT_TS")

/** Runs `use` with a tool found by {@link locate}; without it, says why and exits 3 (no figures). */
export const withTool = async (name: string, tool: Located, use: (path: string) => Promise<void>): Promise<number> => {
  if (!tool.ok) {
    console.log(`${name} unavailable: ${tool.reason}`)
    return 3
  }
  await use(tool.path)
  return 0
}
