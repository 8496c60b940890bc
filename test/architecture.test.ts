/**
 * CONTRIBUTING.md's "Architecture" tables against the imports of src/: every
 * module is listed, imports only what its row allows and uses every allowance
 * of its row, every internal module lives in a folder of src/internal/, a
 * module of such a folder imports public modules only with `import type`, and
 * imports form no cycle.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"

const root = Path.resolve(import.meta.dirname, "..")
const src = Path.join(root, "src")

const modules = (dir: string): ReadonlyArray<string> =>
  Fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? modules(Path.join(dir, entry.name))
      : entry.name.endsWith(".ts")
      ? [Path.relative(src, Path.join(dir, entry.name)).split(Path.sep).join("/")]
      : []
  )

/** A public module: one at the top of src/. */
const isPublic = (module: string): boolean => !module.includes("/")

interface Import {
  /** The src/ module imported or re-exported from. */
  readonly module: string
  /** `import type` or `export type`: erased, nothing of the module is loaded. */
  readonly typeOnly: boolean
}

/** The src/ modules a module imports or re-exports from, each declaration once. */
const declarationsOf = (module: string): ReadonlyArray<Import> => {
  const text = Fs.readFileSync(Path.join(src, module), "utf8")
  return [
    ...text.matchAll(/^(?:import|export)(\s+type\b)?[^"']*?from\s+["'](\.[^"']+)["']|^import\s+["'](\.[^"']+)["']/gm)
  ]
    .map((m) => ({
      module: Path.posix.normalize(Path.posix.join(Path.posix.dirname(module), (m[2] ?? m[3])!)),
      typeOnly: m[1] !== undefined
    }))
}

/** The src/ modules a module imports or re-exports from (type-only imports included). */
const importsOf = (module: string): ReadonlyArray<string> =>
  [...new Set(declarationsOf(module).map((d) => d.module))].sort()

/** The public modules a module imports or re-exports values from (not with `import type`/`export type`). */
const publicValueImportsOf = (module: string): ReadonlyArray<string> =>
  [...new Set(declarationsOf(module).filter((d) => !d.typeOnly && isPublic(d.module)).map((d) => d.module))].sort()

/** The tables' rows: module → allowed imports. */
const table = (): ReadonlyMap<string, ReadonlyArray<string>> => {
  const text = Fs.readFileSync(Path.join(root, "CONTRIBUTING.md"), "utf8")
  const section = text.slice(
    text.indexOf("## Architecture"),
    text.indexOf("\n## ", text.indexOf("## Architecture") + 1)
  )
  const rows = new Map<string, ReadonlyArray<string>>()
  for (const line of section.split("\n")) {
    const match = /^\| `([^`]+)` \| .+ \| (.+) \|$/.exec(line)
    if (match === null) continue
    rows.set(match[1]!, match[2] === "—" ? [] : [...match[2]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!))
  }
  return rows
}

describe("architecture", () => {
  const all = modules(src)
  const internal = all.filter((module) => module.startsWith("internal/"))
  const rows = table()

  it("CONTRIBUTING's map lists every module of src/, and no other", () => {
    assert.deepStrictEqual([...rows.keys()].sort(), [...all].sort())
  })

  it.each(all)("%s imports only what the map allows", (module) => {
    const allowed = rows.get(module) ?? []
    const extra = importsOf(module).filter((m) => !allowed.includes(m))
    assert.deepStrictEqual(extra, [], `${module} imports ${extra.join(", ")}, which its row does not list`)
  })

  it.each(all)("%s uses every allowance of its row", (module) => {
    const imports = importsOf(module)
    const unused = (rows.get(module) ?? []).filter((m) => !imports.includes(m))
    assert.deepStrictEqual(
      unused,
      [],
      `${module}'s row in CONTRIBUTING.md allows ${
        unused.join(", ")
      }, which it does not import: remove them from the row`
    )
  })

  it("every internal module lives in a folder of src/internal/ (internal/<folder>/<module>.ts)", () => {
    assert.deepStrictEqual(internal.filter((module) => module.split("/").length !== 3), [])
  })

  it.each(internal)("%s imports public modules only with `import type`", (module) => {
    const values = publicValueImportsOf(module)
    assert.deepStrictEqual(
      values,
      [],
      `${module} imports values from ${values.join(", ")}: import only types from public modules (\`import type\`)`
    )
  })

  it("no import cycle in src/", () => {
    const state = new Map<string, "visiting" | "done">()
    const cycles: Array<string> = []
    const visit = (module: string, path: ReadonlyArray<string>): void => {
      if (state.get(module) === "done") return
      if (state.get(module) === "visiting") {
        cycles.push([...path.slice(path.indexOf(module)), module].join(" -> "))
        return
      }
      state.set(module, "visiting")
      for (const next of importsOf(module)) visit(next, [...path, module])
      state.set(module, "done")
    }
    for (const module of all) visit(module, [])
    assert.deepStrictEqual(cycles, [])
  })
})
