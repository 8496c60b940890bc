/**
 * Gives each build format its own declarations (the last step of `npm run build`, after `tsc -p tsconfig.build.json`).
 *
 *   node scripts/cjs-declarations.ts
 *
 * tsc writes one ESM declaration file per module, the .d.ts files under dist/ (the package is `"type": "module"`),
 * and keeps the sources' relative specifiers (`"./Lock.ts"`). For each of them this step
 * - rewrites its relative specifiers to the ESM build's `.js` (`"./Lock.js"`), and
 * - writes its CommonJS twin, the same name with .d.cts, whose relative specifiers name the CJS build's `.cjs`
 *   (`"./Lock.cjs"`, which TypeScript resolves to ./Lock.d.cts).
 * package.json's "exports" gives the `import` condition the .d.ts and the `require` condition the .d.cts, so each
 * format's types describe the file that actually loads (no "masquerading as ESM" for CommonJS consumers).
 *
 * Specifiers are found with the TypeScript parser (imports, exports, `import("…")` types, `import x = require(…)`),
 * never in comments or examples. A relative specifier without a `.ts`/`.js` extension, or one naming a module
 * with no declaration file in dist/, fails the step.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const dist = Path.join(root, "dist")

const declarationFiles = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = Path.join(dir, entry.name)
    if (entry.isDirectory()) return declarationFiles(path)
    return entry.name.endsWith(".d.ts") ? [path] : []
  })

/** The string literals naming a module in a declaration file. */
const moduleSpecifiers = (file: ts.SourceFile): Array<ts.StringLiteralLike> => {
  const found: Array<ts.StringLiteralLike> = []
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined) {
      if (ts.isStringLiteralLike(node.moduleSpecifier)) found.push(node.moduleSpecifier)
    } else if (ts.isImportTypeNode(node)) {
      if (ts.isLiteralTypeNode(node.argument) && ts.isStringLiteralLike(node.argument.literal)) {
        found.push(node.argument.literal)
      }
    } else if (ts.isExternalModuleReference(node) && ts.isStringLiteralLike(node.expression)) {
      found.push(node.expression)
    }
    ts.forEachChild(node, visit)
  }
  visit(file)
  return found
}

const problems: Array<string> = []
const files = existsSync(dist) ? declarationFiles(dist) : []
if (files.length === 0) problems.push("no .d.ts under dist/: run `tsc -p tsconfig.build.json` first")

for (const path of files) {
  const text = readFileSync(path, "utf8")
  const relative = Path.relative(root, path)
  if (/^\/\/\/\s*<reference\s+path=/m.test(text)) {
    problems.push(`${relative}: a /// <reference path> directive (not rewritten)`)
    continue
  }
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS)
  // [start, end, stem]: the relative specifiers, in order, without their extension
  const edits: Array<readonly [number, number, string]> = []
  for (const literal of moduleSpecifiers(source)) {
    const specifier = literal.text
    if (!specifier.startsWith("./") && !specifier.startsWith("../")) continue
    const match = /^(.*)\.(?:ts|js)$/.exec(specifier)
    if (match === null) {
      problems.push(`${relative}: relative specifier without a .ts or .js extension: "${specifier}"`)
      continue
    }
    const stem = match[1]!
    if (!existsSync(Path.resolve(Path.dirname(path), `${stem}.d.ts`))) {
      problems.push(`${relative}: "${specifier}" has no declaration file in dist/`)
      continue
    }
    // the literal's text without its quotes
    edits.push([literal.getStart(source) + 1, literal.getEnd() - 1, stem])
  }
  const rewrite = (extension: string): string => {
    let out = text
    for (const [start, end, stem] of [...edits].reverse()) out = out.slice(0, start) + stem + extension + out.slice(end)
    return out
  }
  writeFileSync(path, rewrite(".js"))
  writeFileSync(`${path.slice(0, -".d.ts".length)}.d.cts`, rewrite(".cjs"))
}

if (problems.length > 0) {
  console.error(`cjs-declarations: ${problems.length} problem(s):`)
  for (const problem of problems) console.error(`  ${problem}`)
  process.exit(1)
}
console.log(`cjs-declarations: ${files.length} .d.ts rewritten to .js specifiers, each with its .d.cts twin (.cjs)`)
