/**
 * Checks what `npm pack` publishes (`npm run pack:check`, run by CI after `npm run build`).
 *
 *   node scripts/pack-check.ts
 *
 * Packs the package for real, into a temporary directory, the way a release would (lifecycle
 * scripts included: packing must run nothing heavy), and fails unless
 * - every packed file is under dist/ or examples/, is a guide docs/*.md (README links to the
 *   examples and the guides), or is README.md, LICENSE, CHANGELOG.md or package.json;
 * - every relative link of the Markdown files it packs (README.md, docs/*.md, CHANGELOG.md, …)
 *   resolves inside the package, and every `#anchor` to a heading of the Markdown file it names (or
 *   of its own file);
 * - the packed README.md, the one the npm page shows with nothing else of this repository, has no
 *   relative link but to its own headings: `prepack` (scripts/npm-readme.ts) turned each into the
 *   address of the packed file on jsDelivr, and each of those names a packed file (and an existing
 *   heading of it); `postpack` turned README.md back;
 * - the package holds those four files, every file that package.json's "exports" points to (each
 *   public module's .js and .d.ts under `import`, .cjs and .d.cts under `require`; the
 *   "effect-dflockd-source" condition is for this repository's own tools and is not published) and
 *   the targets of "main", "module", "types" and "bin";
 * - every declaration file has its twin in the other format (.d.ts and .d.cts, see
 *   scripts/cjs-declarations.ts);
 * - no source map is packed: the package does not ship the sources a map would point at (tsup.config.ts
 *   emits none);
 * - the packed package.json has no install-time script (`preinstall`, `install`, `postinstall`,
 *   `prepare`): installing the tarball must run nothing (a library's users never need our test
 *   server, and npm warns about packages with install scripts).
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { headingAnchors, relativeLinks } from "./markdown.ts"
import { packageBase } from "./npm-readme.ts"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const topLevel = new Set(["README.md", "LICENSE", "CHANGELOG.md", "package.json"])
/** The guides: docs/*.md (nothing below docs/ is published). */
const isGuide = (file: string): boolean => /^docs\/[^/]+\.md$/.test(file)

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
  if (!file.startsWith("dist/") && !file.startsWith("examples/") && !isGuide(file) && !topLevel.has(file)) {
    problems.push(`not allowed in the package: ${file}`)
  }
  if (file.endsWith(".map")) problems.push(`source map in the package (its sources are not shipped): ${file}`)
  const twin = file.endsWith(".d.ts")
    ? `${file.slice(0, -".d.ts".length)}.d.cts`
    : file.endsWith(".d.cts")
    ? `${file.slice(0, -".d.cts".length)}.d.ts`
    : undefined
  if (twin !== undefined && !packed.has(twin)) problems.push(`declaration file without its twin ${twin}: ${file}`)
}
for (const file of topLevel) {
  if (!packed.has(file)) problems.push(`missing from the package: ${file}`)
}

// every relative link of a packed Markdown file resolves in the package; every anchor to a heading of the
// Markdown file it names
const markdown = files.filter((f) => f.endsWith(".md"))
const texts = new Map(markdown.map((file) => [file, readFileSync(Path.join(root, file), "utf8")]))
const anchors = new Map(markdown.map((file) => [file, headingAnchors(texts.get(file) ?? "")]))
for (const file of markdown) {
  for (const { anchor, path, target } of relativeLinks(texts.get(file) ?? "")) {
    const resolved = path === ""
      ? file
      : Path.posix.normalize(Path.posix.join(Path.posix.dirname(file), path)).replace(/\/$/, "")
    const inPackage = packed.has(resolved) || files.some((f) => f.startsWith(`${resolved}/`))
    const headings = anchors.get(resolved)
    if (!inPackage) problems.push(`${file}: link to something not in the package: ${target}`)
    else if (anchor !== undefined && headings !== undefined && !headings.has(anchor)) {
      problems.push(`${file}: link to a missing heading: ${target}`)
    }
  }
}

// every target of "exports", with "./*" expanded over the public modules src/*.ts; conditions may nest
// ("import": { "types": …, "default": … })
type Conditions = { readonly [condition: string]: Conditions | string | null }
const pkg = JSON.parse(readFileSync(Path.join(root, "package.json"), "utf8")) as {
  readonly exports?: Record<string, Conditions | string | null>
  readonly main?: string
  readonly module?: string
  readonly types?: string
  readonly bin?: Record<string, string> | string
}
const leaves = (conditions: Conditions): Array<string> =>
  Object.entries(conditions).flatMap(([condition, target]) =>
    condition === "effect-dflockd-source" || target === null
      ? []
      : typeof target === "string"
      ? [target]
      : leaves(target)
  )
const modules = readdirSync(Path.join(root, "src"))
  .filter((file) => file.endsWith(".ts") && !file.endsWith(".d.ts"))
  .map((file) => file.slice(0, -".ts".length))
const targets = new Set<string>()
for (const [subpath, entry] of Object.entries(pkg.exports ?? {})) {
  if (entry === null) continue
  const conditions = typeof entry === "string" ? { default: entry } : entry
  for (const target of leaves(conditions)) {
    const stems = subpath.includes("*") ? modules : [undefined]
    for (const stem of stems) {
      const path = (stem === undefined ? target : target.replace("*", stem)).replace(/^\.\//, "")
      // an explicit subpath whose source module does not exist yet (e.g. ./promise) is skipped
      const source = conditions["effect-dflockd-source"]
      if (stem === undefined && typeof source === "string" && !existsSync(Path.join(root, source))) continue
      targets.add(path)
    }
  }
}
const bins = typeof pkg.bin === "string" ? [pkg.bin] : Object.values(pkg.bin ?? {})
for (const target of [pkg.main, pkg.module, pkg.types, ...bins]) {
  if (target !== undefined) targets.add(target.replace(/^\.\//, ""))
}
for (const target of [...targets].sort()) {
  if (!packed.has(target)) {
    problems.push(`package.json target ("exports", "main", "module", "types", "bin") not packed: ${target}`)
  }
}

// the manifest as published: package/package.json inside each tarball
for (const result of results) {
  execFileSync("tar", ["-xzf", Path.join(packDir, result.filename), "-C", packDir, "package/package.json"])
  const manifest = JSON.parse(readFileSync(Path.join(packDir, "package", "package.json"), "utf8")) as {
    readonly scripts?: Record<string, string>
  }
  // the README the npm page shows: links to this version's packed files, none relative
  execFileSync("tar", ["-xzf", Path.join(packDir, result.filename), "-C", packDir, "package/README.md"])
  const readme = readFileSync(Path.join(packDir, "package", "README.md"), "utf8")
  const base = packageBase(result.name, result.version)
  for (const { target } of relativeLinks(readme)) {
    if (!target.startsWith("#")) problems.push(`packed README.md: relative link (a 404 on the npm page): ${target}`)
  }
  for (const [, target = ""] of readme.matchAll(/\]\((https:\/\/cdn\.jsdelivr\.net\/npm\/[^)\s]+)\)/g)) {
    if (!target.startsWith(base)) {
      problems.push(`packed README.md: link to another package or version: ${target}`)
      continue
    }
    const [path = "", anchor] = target.slice(base.length).split("#")
    const resolved = path.replace(/\/$/, "")
    const headings = anchors.get(resolved)
    if (!packed.has(resolved) && !files.some((f) => f.startsWith(`${resolved}/`))) {
      problems.push(`packed README.md: link to something not in the package: ${target}`)
    } else if (anchor !== undefined && headings !== undefined && !headings.has(anchor)) {
      problems.push(`packed README.md: link to a missing heading: ${target}`)
    }
  }
  if (readFileSync(Path.join(root, "README.md"), "utf8").includes(`](${base}`)) {
    problems.push(
      "README.md still has the packed form's links: postpack did not run (node scripts/npm-readme.ts --relative)"
    )
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
  `pack:check: ${name} — ${files.length} files (${
    (size / 1024).toFixed(1)
  } kB), all under dist/, examples/, docs/*.md or ${
    [...topLevel].join(", ")
  }; every Markdown link resolves in the package, the packed README's as jsDelivr addresses of packed files; ${targets.size} "exports"/"main"/"module"/"types"/"bin" targets present; every .d.ts with its .d.cts; no source map; no ${
    installScripts.join("/")
  } script in the packed package.json`
)
