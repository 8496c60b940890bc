/**
 * CONTRIBUTING.md's "Architecture" table against the imports of src/: every
 * module is listed, imports only what its row allows, and imports form no
 * cycle.
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

/** The src/ modules a module imports or re-exports from (type-only imports included). */
const importsOf = (module: string): ReadonlyArray<string> => {
  const text = Fs.readFileSync(Path.join(src, module), "utf8")
  const specifiers = [...text.matchAll(/^(?:import|export)[^"']*?from\s+["'](\.[^"']+)["']/gm)].map((m) => m[1]!)
  return [
    ...new Set(specifiers.map((s) => Path.posix.normalize(Path.posix.join(Path.posix.dirname(module), s))))
  ].sort()
}

/** The table's rows: module → allowed imports. */
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
  const rows = table()

  it("CONTRIBUTING's map lists every module of src/, and no other", () => {
    assert.deepStrictEqual([...rows.keys()].sort(), [...all].sort())
  })

  it.each(all)("%s imports only what the map allows", (module) => {
    const allowed = rows.get(module) ?? []
    const extra = importsOf(module).filter((m) => !allowed.includes(m))
    assert.deepStrictEqual(extra, [], `${module} imports modules its row does not list`)
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
