/**
 * Checks what `npm pack` would publish (`npm run pack:check`, run by CI after `npm run build`).
 *
 *   node scripts/pack-check.ts
 *
 * Fails unless every packed file is under dist/ or is README.md, LICENSE, CHANGELOG.md or
 * package.json, and unless the package holds those four files and every file that package.json's
 * "exports" points to (each public module's .js, .cjs and .d.ts; the "effect-dflockd-source" condition is for this
 * repository's own tools and is not published).
 */
import { execFileSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const topLevel = new Set(["README.md", "LICENSE", "CHANGELOG.md", "package.json"])

interface PackResult {
  readonly name: string
  readonly version: string
  readonly files: ReadonlyArray<{ readonly path: string; readonly size: number }>
}

// --ignore-scripts: `npm pack` would otherwise run the "prepare" script (the dflockd install).
const output = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
  cwd: root,
  encoding: "utf8",
  stdio: ["ignore", "pipe", "inherit"]
})
const results = JSON.parse(output) as ReadonlyArray<PackResult>
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
  }; ${targets.size} "exports" targets present`
)
