/**
 * README.md's links for the npm page (`prepack` and `postpack` in package.json).
 *
 *   node scripts/npm-readme.ts --absolute   # before packing: relative links → the packed files on a CDN
 *   node scripts/npm-readme.ts --relative   # after packing: back as they are written in the repository
 *
 * npmjs.com shows README.md alone and leaves its relative links relative to the npm page, where
 * `docs/guarantees.md` is a 404 (it rewrites them only for a `repository` on GitHub, which this
 * package does not name). So the packed README links every file of the package by its address on
 * jsDelivr, which serves the files of each published version: `docs/guarantees.md#anchors` becomes
 * `https://cdn.jsdelivr.net/npm/effect-dflockd@0.1.0/docs/guarantees.md#anchors`. Links to a
 * heading of README itself (`#errors`) stay as they are. `--relative` undoes exactly that, so a
 * pack that stops halfway is repaired by running it. scripts/pack-check.ts checks the packed
 * README: no relative link left, every package link to a packed file and an existing heading.
 */
import { readFileSync, writeFileSync } from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

/** Where the files of one published version are served. */
export const packageBase = (name: string, version: string): string => `https://cdn.jsdelivr.net/npm/${name}@${version}/`

/** Applies `f` to the text outside fenced code blocks (a `](` in a code block is no link). */
const outsideCode = (text: string, f: (prose: string) => string): string =>
  text
    .split(/(^(?:```|~~~)[^\n]*\n[\s\S]*?^(?:```|~~~)[^\n]*$)/m)
    .map((part, i) => (i % 2 === 0 ? f(part) : part))
    .join("")

/** Relative links (a path, with or without an anchor) as links to `base`; `#anchor`, `https:` … are left. */
export const absoluteLinks = (text: string, base: string): string =>
  outsideCode(
    text,
    (prose) =>
      prose.replace(
        /\]\(([^)\s]+)\)/g,
        (link, target: string) =>
          /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("#")
            ? link
            : `](${base}${target.replace(/^\.\//, "")})`
      )
  )

/** The inverse of {@link absoluteLinks}: links to `base` as relative links. */
export const relativeLinksOf = (text: string, base: string): string =>
  outsideCode(text, (prose) => prose.split(`](${base}`).join("]("))

if (process.argv[1] !== undefined && Path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
  const pkg = JSON.parse(readFileSync(Path.join(root, "package.json"), "utf8")) as {
    readonly name: string
    readonly version: string
  }
  const base = packageBase(pkg.name, pkg.version)
  const file = Path.join(root, "README.md")
  const text = readFileSync(file, "utf8")
  const mode = process.argv[2]
  if (mode !== "--absolute" && mode !== "--relative") {
    console.error("usage: node scripts/npm-readme.ts --absolute | --relative")
    process.exit(2)
  }
  // always from the repository's form, so running --absolute twice changes nothing
  const relative = relativeLinksOf(text, base)
  writeFileSync(file, mode === "--absolute" ? absoluteLinks(relative, base) : relative)
}
