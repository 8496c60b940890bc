/**
 * Checks what `npm pack` publishes (`npm run pack:check`, run by CI after `npm run build`).
 *
 *   node scripts/pack-check.ts
 *
 * Packs the package for real, into a temporary directory, the way a release would (lifecycle
 * scripts included: packing must run nothing heavy), and fails unless
 * - every packed file is under dist/ or is README.md, LICENSE, CHANGELOG.md or package.json;
 * - the package holds those four files and every file that package.json's "exports" points to
 *   (each public module's .js, .cjs and .d.ts; the "effect-dflockd-source" condition is for this
 *   repository's own tools and is not published);
 * - the packed package.json has no install-time script (`preinstall`, `install`, `postinstall`,
 *   `prepare`): installing the tarball must run nothing (a library's users never need our test
 *   server, and npm warns about packages with install scripts).
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const topLevel = new Set(["README.md", "LICENSE", "CHANGELOG.md", "package.json"])

interface PackResult {
  readonly name: string
  readonly version: string
  readonly files: ReadonlyArray<{ readonly path: string; readonly size: number }>
}

const installScripts = ["preinstall", "install", "postinstall", "prepare"] as const

const packDir = mkdtempSync(Path.join(tmpdir(), "effect-dflockd-pack-"))
// No --ignore-scripts: whatever `npm pack` runs for a release runs here too.
const output = execFileSync("npm", ["pack", "--json", "--pack-destination", packDir], {
  cwd: root,
  encoding: "utf8",
  stdio: ["ignore", "pipe", "inherit"]
})
const results = JSON.parse(output) as ReadonlyArray<PackResult & { readonly filename: string }>
const files = results.flatMap((result) => result.files.map((file) => file.path.replace(/\\/g, "/")))
const packed = new Set(files)
const problems: Array<string> = []

for (const file of files) {
  if (!file.startsWith("dist/") && !topLevel.has(file)) problems.push(`not allowed in the package: ${file}`)
}
for (const file of topLevel) {
  if (!packed.has(file)) problems.push(`missing from the package: ${file}`)
}

// every target of "exports", with "./*" expanded over the public modules src/*.ts
const pkg = JSON.parse(readFileSync(Path.join(root, "package.json"), "utf8")) as {
  readonly exports?: Record<string, Record<string, string> | string | null>
}
const modules = readdirSync(Path.join(root, "src"))
  .filter((file) => file.endsWith(".ts") && !file.endsWith(".d.ts"))
  .map((file) => file.slice(0, -".ts".length))
const targets = new Set<string>()
for (const [subpath, entry] of Object.entries(pkg.exports ?? {})) {
  if (entry === null) continue
  const conditions = typeof entry === "string" ? { default: entry } : entry
  for (const [condition, target] of Object.entries(conditions)) {
    if (condition === "effect-dflockd-source") continue
    const stems = subpath.includes("*") ? modules : [undefined]
    for (const stem of stems) {
      const path = (stem === undefined ? target : target.replace("*", stem)).replace(/^\.\//, "")
      // an explicit subpath whose source module does not exist yet (e.g. ./promise) is skipped
      const source = conditions["effect-dflockd-source"]
      if (stem === undefined && source !== undefined && !existsSync(Path.join(root, source))) continue
      targets.add(path)
    }
  }
}
for (const target of [...targets].sort()) {
  if (!packed.has(target)) problems.push(`"exports" target missing from the package: ${target}`)
}

// the manifest as published: package/package.json inside each tarball
for (const result of results) {
  execFileSync("tar", ["-xzf", Path.join(packDir, result.filename), "-C", packDir, "package/package.json"])
  const manifest = JSON.parse(readFileSync(Path.join(packDir, "package", "package.json"), "utf8")) as {
    readonly scripts?: Record<string, string>
  }
  for (const script of installScripts) {
    const command = manifest.scripts?.[script]
    if (command !== undefined) {
      problems.push(`the packed package.json has an install-time script: "${script}": ${JSON.stringify(command)}`)
    }
  }
}
rmSync(packDir, { recursive: true, force: true })

const size = results.reduce((total, result) => total + result.files.reduce((sum, file) => sum + file.size, 0), 0)
const name = results.map((result) => `${result.name}@${result.version}`).join(", ")
if (problems.length > 0) {
  console.error(`pack:check: ${name} — ${problems.length} problem(s):`)
  for (const problem of problems) console.error(`  ${problem}`)
  process.exit(1)
}
console.log(
  `pack:check: ${name} — ${files.length} files (${(size / 1024).toFixed(1)} kB), all under dist/ or ${
    [...topLevel].join(", ")
  }; ${targets.size} "exports" targets present; no ${installScripts.join("/")} script in the packed package.json`
)
