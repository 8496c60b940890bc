/**
 * Are the types wrong? (`npm run attw`, run by CI after `npm run build`.)
 *
 *   node scripts/attw.ts [more attw options]
 *
 * Runs @arethetypeswrong/cli on the package as `npm pack` would publish it, with the "strict" profile: every
 * entry point must resolve to the right types under `node10` (no "exports": "main"/"types" and "typesVersions"),
 * `node16` from CommonJS (the `require` condition, .d.cts), `node16` from ESM (the `import` condition, .d.ts)
 * and `bundler`. Any problem fails the run.
 *
 * attw checks the explicit subpaths of "exports" (".", "./promise", "./package.json") by itself but not the
 * "./*" pattern, so each public module behind it (every src/*.ts except the cli, a bin excluded from "exports",
 * and promise.ts, already explicit) is added with --include-entrypoints. --no-definitely-typed: there is no
 * @types package to look up, and the check needs no network.
 */
import { spawnSync } from "node:child_process"
import { readdirSync } from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const attw = Path.join(root, "node_modules", "@arethetypeswrong", "cli", "dist", "index.js")

const patternModules = readdirSync(Path.join(root, "src"))
  .filter((file) => file.endsWith(".ts") && !file.endsWith(".d.ts"))
  .map((file) => file.slice(0, -".ts".length))
  .filter((module) => module !== "cli" && module !== "promise")
  .sort()

const result = spawnSync(
  process.execPath,
  [
    attw,
    "--pack",
    root,
    "--profile",
    "strict",
    "--no-definitely-typed",
    "--format",
    "table-flipped",
    "--include-entrypoints",
    ...patternModules.map((module) => `./${module}`),
    ...process.argv.slice(2)
  ],
  { cwd: root, stdio: "inherit" }
)
if (result.error !== undefined) throw result.error
process.exit(result.status ?? 1)
