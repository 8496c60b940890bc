/**
 * Compiles TypeScript consumers of the packed package (`npm run test:types`, run by CI after `npm run build`).
 *
 *   node scripts/consumer-types.ts
 *
 * Packs the package (`npm pack`, as a release would), unpacks it into a temporary node_modules/effect-dflockd next
 * to links to this repository's `effect` and `@types/node`, and for each fixture in test/types/ (a tsconfig.json and
 * its consumer file, which imports "effect-dflockd" and "effect-dflockd/promise" like an application would):
 * - compiles it with this repository's tsc against the packed declarations, which must give no error, and
 * - runs the emitted JavaScript with node when the fixture emits (its tsconfig has an "outDir"): the consumer's
 *   `require`/`import` must load the packed dist/*.cjs or dist/*.js.
 * The fixtures cover `module: commonjs` (node10 resolution: "main", "types", "typesVersions"), `module: node16`
 * from CommonJS (.d.cts), `module: nodenext` from ESM (.d.ts) and `moduleResolution: bundler`.
 *
 * Every fixture but commonjs-promise sets skipLibCheck, as Effect applications do: `effect`'s own declarations use
 * DOM types (CryptoKey), and under `module: node16` (Node 16 semantics, no `require` of an ES module) TypeScript
 * flags the .d.cts files' imports of the ESM-only `effect` (TS1479), although Node >= 22.12 runs them and
 * `module: nodenext` accepts them. commonjs-promise checks the declarations too: effect-dflockd/promise needs nothing
 * from `effect`. Under `module: commonjs` (node10), `effect`'s types cannot resolve at all ("exports" only), so the
 * Effect API's types from `effect` are unresolved there; the Promise API is fully typed.
 *
 * The fixtures are excluded from the root tsconfig.json: they are compiled here, against dist/, with their own
 * settings.
 */
import { execFileSync, spawnSync } from "node:child_process"
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const fixtures = Path.join(root, "test", "types")
const tsc = Path.join(root, "node_modules", "typescript", "bin", "tsc")

const work = mkdtempSync(Path.join(tmpdir(), "effect-dflockd-consumers-"))
const failures: Array<string> = []
try {
  // the package as published
  const output = execFileSync("npm", ["pack", "--json", "--pack-destination", work], {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"]
  })
  const [packed] = JSON.parse(output) as ReadonlyArray<{ readonly filename: string }>
  if (packed === undefined) throw new Error("npm pack made no tarball")
  const modules = Path.join(work, "node_modules")
  const installed = Path.join(modules, "effect-dflockd")
  mkdirSync(installed, { recursive: true })
  execFileSync("tar", ["-xzf", Path.join(work, packed.filename), "-C", installed, "--strip-components=1"])
  // its peer dependency and the Node types its declarations use, from this repository
  symlinkSync(Path.join(root, "node_modules", "effect"), Path.join(modules, "effect"), "dir")
  mkdirSync(Path.join(modules, "@types"))
  symlinkSync(Path.join(root, "node_modules", "@types", "node"), Path.join(modules, "@types", "node"), "dir")

  for (const name of readdirSync(fixtures).sort()) {
    const dir = Path.join(work, name)
    cpSync(Path.join(fixtures, name), dir, { recursive: true })
    const read = ts.readConfigFile(Path.join(dir, "tsconfig.json"), ts.sys.readFile)
    if (read.error !== undefined) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, "\n"))
    const config = read.config as {
      readonly compilerOptions: { readonly module: string; readonly outDir?: string }
      readonly files: ReadonlyArray<string>
    }
    const label = `${name} (module: ${config.compilerOptions.module})`
    const compiled = spawnSync(process.execPath, [tsc, "-p", Path.join(dir, "tsconfig.json")], {
      cwd: dir,
      encoding: "utf8"
    })
    if (compiled.status !== 0) {
      failures.push(`${label}: tsc failed\n${indent(compiled.stdout + compiled.stderr)}`)
      continue
    }
    const outDir = config.compilerOptions.outDir
    if (outDir === undefined) {
      console.log(`test:types: ${label}: compiles`)
      continue
    }
    const [file] = config.files
    const emitted = Path.join(
      dir,
      outDir,
      file!.replace(/\.ts$/, ".js").replace(/\.cts$/, ".cjs").replace(/\.mts$/, ".mjs")
    )
    const ran = spawnSync(process.execPath, [emitted], { cwd: dir, encoding: "utf8" })
    if (ran.status !== 0) {
      failures.push(`${label}: the compiled consumer failed to run\n${indent(ran.stdout + ran.stderr)}`)
      continue
    }
    console.log(`test:types: ${label}: compiles, runs`)
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}

if (failures.length > 0) {
  console.error(`test:types: ${failures.length} consumer(s) failed:`)
  for (const failure of failures) console.error(`  ${failure}`)
  process.exit(1)
}

function indent(text: string): string {
  return text.trim().split("\n").map((line) => `    ${line}`).join("\n")
}
