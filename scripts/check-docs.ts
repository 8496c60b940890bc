/**
 * Checks the JSDoc of the public API (`npm run docs:check`, run by CI).
 *
 *   node scripts/check-docs.ts                   # check every public module, compile the examples
 *   node scripts/check-docs.ts --no-compile      # skip compiling the examples (faster)
 *   node scripts/check-docs.ts --require-category
 *
 * Public modules: the package entry points (src/index.ts, src/promise.ts when it exists) and every
 * src/*.ts (src/internal/ is private). Every export of a public module, and every export that a public
 * module re-exports from a private one, needs:
 *   - a description (prose besides the tags and the examples),
 *   - an `@since` tag with a version,
 *   - an example: a fenced code block (under `**Example** (Title)` or an `@example` tag). A name
 *     declared twice (`const X` and its companion `type X`) needs one example between them.
 * A name re-exported from src/internal/ (`export { a } from "./internal/room/x.ts"`) is checked at its
 * declarations there, members and companion types included, unless the line has its own doc.
 * Re-export lines (`export * from`, `export * as X from`) need a description and `@since`; so do
 * exported namespaces and their members, the public members of exported classes (methods,
 * properties, accessors, constructors; not `private`, `#private` or `override`), and each module's own doc
 * comment (the file's first).
 * With `--require-category`, each export also needs a `@category` tag.
 *
 * The ```ts / ```typescript snippets of README.md and docs/*.md are compiled the same way, each
 * block as a whole module (a snippet must import what it uses). Their relative links must name a
 * file or folder of the repository, and a link's `#anchor` a heading of the Markdown file it names
 * (scripts/pack-check.ts checks the packed copies the same way, inside the package).
 * Examples in ```ts / ```typescript / unlabelled fences are compiled against the package itself
 * (`import { Lock } from "effect-dflockd"` resolves to src/ through the "effect-dflockd-source" export condition).
 * Every problem is printed; the exit code is 1 if there is any.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"
import { headingAnchors, relativeLinks } from "./markdown.ts"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const src = Path.join(root, "src")
const args = new Set(process.argv.slice(2))
const compileExamples = !args.has("--no-compile")
const requireCategory = args.has("--require-category")

// ---------------------------------------------------------------------------
// the program
// ---------------------------------------------------------------------------

const entryPoints = ["index.ts", "promise.ts"].map((file) => Path.join(src, file)).filter((file) => existsSync(file))
const publicModules = [
  ...new Set([
    ...entryPoints,
    ...readdirSync(src).filter((file) => file.endsWith(".ts") && !file.endsWith(".d.ts")).map((file) =>
      Path.join(src, file)
    )
  ])
].sort()

const readConfig = (file: string): ts.ParsedCommandLine => {
  const parsed = ts.getParsedCommandLineOfConfigFile(file, {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"))
    }
  })
  if (parsed === undefined) throw new Error(`cannot read ${file}`)
  return parsed
}

const config = readConfig(Path.join(root, "tsconfig.json"))
const program = ts.createProgram({ rootNames: publicModules, options: { ...config.options, noEmit: true } })
const checker = program.getTypeChecker()

const isPublic = (file: string): boolean => publicModules.includes(Path.resolve(file))
const relative = (file: string): string => Path.relative(root, file)

// ---------------------------------------------------------------------------
// reading a doc comment
// ---------------------------------------------------------------------------

interface Example {
  readonly language: string
  readonly code: string
  /** 1-based line of the example's first code line in its source file. */
  readonly line: number
}

interface Doc {
  readonly description: boolean
  readonly since: boolean
  readonly category: boolean
  readonly examples: ReadonlyArray<Example>
}

const fence = /^\s*(```|~~~)\s*([\w-]*)/

const parseDoc = (sourceFile: ts.SourceFile, start: number, end: number): Doc => {
  const firstLine = sourceFile.getLineAndCharacterOfPosition(start).line
  const lines = sourceFile.text
    .slice(start, end)
    .replace(/^\/\*\*/, "")
    .replace(/\*\/$/, "")
    .split("\n")
    .map((line) => line.replace(/^\s*\* ?/, ""))
  const examples: Array<Example> = []
  const prose: Array<string> = []
  let since = false
  let category = false
  let inTags = false
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? ""
    const open = fence.exec(line)
    if (open !== null) {
      const marker = open[1] ?? "```"
      const body: Array<string> = []
      let j = i + 1
      while (j < lines.length && !(lines[j] ?? "").trim().startsWith(marker)) body.push(lines[j++] ?? "")
      examples.push({ language: open[2] ?? "", code: body.join("\n"), line: firstLine + i + 2 })
      i = j
      continue
    }
    const tag = /^\s*@(\w+)\s*(.*)$/.exec(line)
    if (tag !== null) {
      inTags = true
      if (tag[1] === "since" && (tag[2] ?? "").trim() !== "") since = true
      if (tag[1] === "category" && (tag[2] ?? "").trim() !== "") category = true
      continue
    }
    // prose: anything before the tags, minus the example headings
    if (!inTags && !/^\s*\*\*Example\*\*/.test(line)) prose.push(line)
  }
  return { description: prose.join("").trim() !== "", since, category, examples }
}

const jsDocRanges = (sourceFile: ts.SourceFile, node: ts.Node): Array<ts.CommentRange> =>
  (ts.getLeadingCommentRanges(sourceFile.text, node.getFullStart()) ?? []).filter((range) =>
    sourceFile.text.startsWith("/**", range.pos) && !sourceFile.text.startsWith("/**/", range.pos)
  )

/** The doc comment of a statement: the last `/** *\/` before it (the first one of a file is the module's). */
const docOf = (statement: ts.Statement): Doc | undefined => {
  const sourceFile = statement.getSourceFile()
  const ranges = jsDocRanges(sourceFile, statement)
  const isFirst = sourceFile.statements[0] === statement
  if (ranges.length === 0 || (isFirst && ranges.length === 1 && hasModuleDoc(sourceFile))) return undefined
  const last = ranges[ranges.length - 1]
  return last === undefined ? undefined : parseDoc(sourceFile, last.pos, last.end)
}

/** A file's first doc comment is the module's when another follows it or the first statement is not exported. */
const moduleDocRange = (sourceFile: ts.SourceFile): ts.CommentRange | undefined => {
  const first = sourceFile.statements[0]
  if (first === undefined) return undefined
  const ranges = jsDocRanges(sourceFile, first)
  if (ranges.length === 0) return undefined
  return ranges.length > 1 || !isExported(first) ? ranges[0] : undefined
}
const hasModuleDoc = (sourceFile: ts.SourceFile): boolean => moduleDocRange(sourceFile) !== undefined

// ---------------------------------------------------------------------------
// collecting the exports
// ---------------------------------------------------------------------------

type Need = "description" | "since" | "example" | "category"

interface Site {
  readonly file: string
  readonly line: number
  readonly name: string
  readonly kind: string
  readonly doc: Doc | undefined
  readonly needs: ReadonlyArray<Need>
  /** Sites with the same key share one example (a value and its companion type). */
  readonly exampleKey: string
}

const exportNeeds = (): ReadonlyArray<Need> =>
  requireCategory ? ["description", "since", "example", "category"] : ["description", "since", "example"]
const lineNeeds: ReadonlyArray<Need> = ["description", "since"]

const isExported = (node: ts.Node): boolean =>
  ts.canHaveModifiers(node) &&
  (ts.getModifiers(node) ?? []).some((modifier) => modifier.kind === ts.SyntaxKind.ExportKeyword)

const lineOf = (node: ts.Node): number => node.getSourceFile().getLineAndCharacterOfPosition(node.getStart()).line + 1

const kindOf = (statement: ts.Statement): string =>
  ts.isFunctionDeclaration(statement)
    ? "function"
    : ts.isClassDeclaration(statement)
    ? "class"
    : ts.isInterfaceDeclaration(statement)
    ? "interface"
    : ts.isTypeAliasDeclaration(statement)
    ? "type"
    : ts.isEnumDeclaration(statement)
    ? "enum"
    : ts.isModuleDeclaration(statement)
    ? "namespace"
    : ts.isVariableStatement(statement)
    ? "const"
    : ts.isExportAssignment(statement)
    ? "default"
    : "export"

const declaredNames = (statement: ts.Statement): Array<string> => {
  if (ts.isVariableStatement(statement)) {
    return statement.declarationList.declarations.map((declaration) => declaration.name.getText())
  }
  if (ts.isExportAssignment(statement)) return ["default"]
  const name = (statement as ts.DeclarationStatement).name
  return name === undefined ? ["default"] : [name.getText()]
}

/** The statement (in a file or a namespace body) that holds a declaration. */
const statementOf = (node: ts.Node): ts.Statement | undefined => {
  let current: ts.Node | undefined = node
  while (current !== undefined && !(ts.isSourceFile(current.parent) || ts.isModuleBlock(current.parent))) {
    current = current.parent
  }
  return current as ts.Statement | undefined
}

const sites: Array<Site> = []
const seen = new Set<ts.Node>()

const addDeclaration = (statement: ts.Statement, needs: ReadonlyArray<Need>, prefix: string, via?: Doc): void => {
  if (seen.has(statement)) return
  seen.add(statement)
  const file = statement.getSourceFile().fileName
  const kind = kindOf(statement)
  for (const name of declaredNames(statement)) {
    const full = prefix + name
    // overloads: the doc of the first signature covers the others
    if (ts.isFunctionDeclaration(statement) && sites.some((site) => site.file === file && site.name === full)) continue
    sites.push({
      file,
      line: lineOf(statement),
      name: full,
      kind,
      doc: docOf(statement) ?? via,
      needs: kind === "namespace" ? lineNeeds : needs,
      exampleKey: `${file}#${full}`
    })
  }
  if (ts.isClassDeclaration(statement)) addClassMembers(statement, `${prefix}${declaredNames(statement)[0]}.`)
  if (ts.isModuleDeclaration(statement) && statement.body !== undefined && ts.isModuleBlock(statement.body)) {
    const ambient = (ts.getModifiers(statement) ?? []).some((m) => m.kind === ts.SyntaxKind.DeclareKeyword)
    for (const member of statement.body.statements) {
      if (ambient || isExported(member)) addDeclaration(member, lineNeeds, `${prefix}${declaredNames(statement)[0]}.`)
    }
  }
}

/** Public members of an exported class (not `#private`, `private`, `override`, or a setter after its getter). */
const addClassMembers = (declaration: ts.ClassDeclaration, prefix: string): void => {
  const sourceFile = declaration.getSourceFile()
  const names = new Set<string>()
  for (const member of declaration.members) {
    if (ts.isClassStaticBlockDeclaration(member) || ts.isSemicolonClassElement(member)) continue
    if (ts.isIndexSignatureDeclaration(member)) continue
    if (member.name !== undefined && ts.isPrivateIdentifier(member.name)) continue
    const modifiers = ts.canHaveModifiers(member) ? ts.getModifiers(member) ?? [] : []
    // an `override` (e.g. `name` or `message` of an error) inherits the doc of what it overrides
    if (modifiers.some((m) => m.kind === ts.SyntaxKind.PrivateKeyword || m.kind === ts.SyntaxKind.OverrideKeyword)) {
      continue
    }
    const name = ts.isConstructorDeclaration(member) ? "constructor" : member.name?.getText() ?? "?"
    if (names.has(name)) continue // overloads, get/set pairs
    names.add(name)
    const ranges = jsDocRanges(sourceFile, member)
    const last = ranges[ranges.length - 1]
    sites.push({
      file: sourceFile.fileName,
      line: lineOf(member),
      name: prefix + name,
      kind: "member",
      doc: last === undefined ? undefined : parseDoc(sourceFile, last.pos, last.end),
      needs: lineNeeds,
      exampleKey: `${sourceFile.fileName}#${prefix}${name}`
    })
  }
}

/** Exports of a private module that a public one re-exports: their declarations are public API. */
const addModuleExports = (moduleSymbol: ts.Symbol, prefix: string): void => {
  for (const symbol of checker.getExportsOfModule(moduleSymbol)) addSymbol(symbol, prefix, undefined)
}

const addSymbol = (symbol: ts.Symbol, prefix: string, via: Doc | undefined): void => {
  const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol
  for (const declaration of target.declarations ?? []) {
    if (ts.isSourceFile(declaration)) {
      // `export * as X from "./internal/room/x.ts"`: the module itself
      if (!isPublic(declaration.fileName)) addModuleExports(target, `${prefix}${symbol.name}.`)
      continue
    }
    const statement = statementOf(declaration)
    if (statement === undefined || isPublic(statement.getSourceFile().fileName)) continue
    if (statement.getSourceFile().isDeclarationFile) continue
    addDeclaration(statement, exportNeeds(), prefix, via)
  }
}

const moduleSymbolOf = (declaration: ts.ExportDeclaration): ts.Symbol | undefined =>
  declaration.moduleSpecifier === undefined ? undefined : checker.getSymbolAtLocation(declaration.moduleSpecifier)

const moduleProblems: Array<string> = []

for (const file of publicModules) {
  const sourceFile = program.getSourceFile(file)
  if (sourceFile === undefined) continue
  const range = moduleDocRange(sourceFile)
  const moduleDoc = range === undefined ? undefined : parseDoc(sourceFile, range.pos, range.end)
  if (moduleDoc === undefined || !moduleDoc.description || !moduleDoc.since) {
    const missing = moduleDoc === undefined ? "doc comment" : !moduleDoc.description ? "description" : "@since"
    moduleProblems.push(`${relative(file)}:1  module: missing ${missing}`)
  }
  for (const statement of sourceFile.statements) {
    if (ts.isExportDeclaration(statement)) {
      const doc = docOf(statement)
      const target = moduleSymbolOf(statement)
      const targetFile = target?.valueDeclaration?.getSourceFile().fileName
      const intoPrivate = target !== undefined && targetFile !== undefined && !isPublic(targetFile)
      const clause = statement.exportClause
      if (clause === undefined || ts.isNamespaceExport(clause)) {
        // `export * from "./X.ts"` and `export * as X from "./X.ts"`: the line itself
        sites.push({
          file,
          line: lineOf(statement),
          name: clause === undefined ? `* from ${statement.moduleSpecifier?.getText()}` : clause.name.text,
          kind: "re-export",
          doc,
          needs: lineNeeds,
          exampleKey: `${file}:${lineOf(statement)}`
        })
        if (intoPrivate && target !== undefined) {
          addModuleExports(target, clause === undefined ? "" : `${clause.name.text}.`)
        }
        continue
      }
      // `export { a, b as c } from "./x.ts"` / `export { a }`: each name, documented on the line or at its declaration
      for (const specifier of clause.elements) {
        if (specifier.isTypeOnly && statement.isTypeOnly) continue
        const symbol = checker.getSymbolAtLocation(specifier.name)
        const declarations = symbol === undefined ? [] : (checker.getAliasedSymbol(symbol).declarations ?? [])
        const locals = declarations
          .map(statementOf)
          .filter((s): s is ts.Statement => s !== undefined && !s.getSourceFile().isDeclarationFile)
        // re-exported from a room of src/internal/ with no doc on the line: each declaration (a value and its
        // companion type, a class and its members) is public API, checked where it is written
        if (doc === undefined && locals.length > 0 && locals.every((s) => !isPublic(s.getSourceFile().fileName))) {
          for (const local of locals) addDeclaration(local, exportNeeds(), "")
          continue
        }
        const local = locals[0]
        const declarationDoc = local === undefined ? undefined : docOf(local)
        sites.push({
          file,
          line: lineOf(specifier),
          name: specifier.name.text,
          kind: "export",
          doc: doc ?? declarationDoc,
          needs: exportNeeds(),
          exampleKey: `${file}#${specifier.name.text}`
        })
        if (local !== undefined) seen.add(local)
      }
      continue
    }
    if (ts.isExportAssignment(statement) || isExported(statement)) addDeclaration(statement, exportNeeds(), "")
  }
}

// ---------------------------------------------------------------------------
// the verdict
// ---------------------------------------------------------------------------

sites.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line)
const withExample = new Set(sites.filter((site) => (site.doc?.examples.length ?? 0) > 0).map((site) => site.exampleKey))
const problems: Array<string> = [...moduleProblems]
for (const site of sites) {
  const missing: Array<string> = []
  if (site.doc === undefined) missing.push("doc comment")
  else {
    if (site.needs.includes("description") && !site.doc.description) missing.push("description")
    if (site.needs.includes("since") && !site.doc.since) missing.push("@since")
    if (site.needs.includes("category") && !site.doc.category) missing.push("@category")
  }
  if (site.needs.includes("example") && !withExample.has(site.exampleKey)) missing.push("example")
  if (missing.length > 0) {
    problems.push(`${relative(site.file)}:${site.line}  ${site.name} (${site.kind}): missing ${missing.join(", ")}`)
  }
}

// ---------------------------------------------------------------------------
// compiling the examples
// ---------------------------------------------------------------------------

/** The Markdown guides whose TypeScript snippets are compiled: README.md and docs/*.md. */
const guides = [
  Path.join(root, "README.md"),
  ...(existsSync(Path.join(root, "docs"))
    ? readdirSync(Path.join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => Path.join(root, "docs", f))
    : [])
].filter((file) => existsSync(file))

// The guides' links: each relative link names a file or folder of the repository; an anchor, a heading of the
// Markdown file it names (or of its own file).
const linkProblems: Array<string> = []
const guideTexts = new Map(guides.map((guide) => [guide, readFileSync(guide, "utf8")]))
for (const [guide, text] of guideTexts) {
  for (const { anchor, path, target } of relativeLinks(text)) {
    const resolved = path === "" ? guide : Path.resolve(Path.dirname(guide), path)
    if (relative(resolved).startsWith("..") || !existsSync(resolved)) {
      linkProblems.push(`${relative(guide)}: link to nothing in the repository: ${target}`)
    } else if (anchor !== undefined && resolved.endsWith(".md")) {
      const headings = headingAnchors(guideTexts.get(resolved) ?? readFileSync(resolved, "utf8"))
      if (!headings.has(anchor)) linkProblems.push(`${relative(guide)}: link to a missing heading: ${target}`)
    }
  }
}

/** The ```ts / ```typescript blocks of a Markdown text, with the line of each block's first code line. */
const markdownSnippets = (text: string): ReadonlyArray<{ readonly line: number; readonly code: string }> => {
  const snippets: Array<{ line: number; code: string }> = []
  const lines = text.split("\n")
  let open: { line: number; code: Array<string> } | undefined
  lines.forEach((line, i) => {
    if (open === undefined) {
      if (/^```(ts|typescript)\s*$/.test(line)) open = { line: i + 2, code: [] }
    } else if (/^```\s*$/.test(line)) {
      snippets.push({ line: open.line, code: open.code.join("\n") })
      open = undefined
    } else {
      open.code.push(line)
    }
  })
  return snippets
}

interface VirtualExample {
  readonly path: string
  readonly origin: string
  readonly line: number
  readonly code: string
}

const compileProblems: Array<string> = []
let exampleCount = 0
if (compileExamples) {
  const virtualDir = Path.join(root, ".docs-examples")
  const virtual = new Map<string, VirtualExample>()
  const done = new Set<string>()
  for (const site of sites) {
    if (site.doc === undefined || done.has(`${site.file}:${site.line}`)) continue
    done.add(`${site.file}:${site.line}`)
    site.doc.examples.forEach((example, i) => {
      if (!["", "ts", "typescript", "mts"].includes(example.language)) return
      const path = Path.join(virtualDir, `${relative(site.file).replace(/[/\\.]/g, "_")}_${site.line}_${i}.ts`)
      virtual.set(path, {
        path,
        origin: `${relative(site.file)}:${example.line}  ${site.name}`,
        line: example.line,
        code: example.code
      })
    })
  }
  // The guides' TypeScript snippets compile too: README.md and every docs/*.md, each block whole.
  for (const guide of guides) {
    markdownSnippets(readFileSync(guide, "utf8")).forEach((snippet, i) => {
      const path = Path.join(virtualDir, `${relative(guide).replace(/[/\\.]/g, "_")}_${snippet.line}_${i}.ts`)
      virtual.set(path, {
        path,
        origin: `${relative(guide)}:${snippet.line}  snippet`,
        line: snippet.line,
        code: snippet.code
      })
    })
  }
  exampleCount = virtual.size
  if (virtual.size > 0) {
    const options: ts.CompilerOptions = {
      ...config.options,
      noEmit: true,
      noUnusedLocals: false,
      noUnusedParameters: false,
      moduleDetection: ts.ModuleDetectionKind.Force
    }
    const host = ts.createCompilerHost(options)
    const base = { ...host }
    host.fileExists = (file) => virtual.has(Path.resolve(file)) || base.fileExists(file)
    host.readFile = (file) => virtual.get(Path.resolve(file))?.code ?? base.readFile(file)
    host.getSourceFile = (file, language, onError, create) => {
      const example = virtual.get(Path.resolve(file))
      return example === undefined
        ? base.getSourceFile(file, language, onError, create)
        : ts.createSourceFile(file, example.code, language, true, ts.ScriptKind.TS)
    }
    const examples = ts.createProgram({ rootNames: [...virtual.keys()], options, host })
    for (const diagnostic of ts.getPreEmitDiagnostics(examples)) {
      const file = diagnostic.file
      const example = file === undefined ? undefined : virtual.get(Path.resolve(file.fileName))
      const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n    ")
      if (file === undefined || example === undefined) {
        compileProblems.push(`(examples) ${message}`)
        continue
      }
      const line = file.getLineAndCharacterOfPosition(diagnostic.start ?? 0).line
      const [origin, name] = example.origin.split("  ")
      const at = origin?.replace(/:\d+$/, `:${example.line + line}`) ?? ""
      compileProblems.push(`${at}  example of ${name}: TS${diagnostic.code} ${message}`)
    }
  }
}

// ---------------------------------------------------------------------------

const modules = publicModules.map(relative).join(", ")
if (problems.length > 0) {
  console.log(`Missing documentation (${problems.length}):`)
  for (const problem of problems) console.log(`  ${problem}`)
}
if (compileProblems.length > 0) {
  console.log(`Examples that do not compile (${compileProblems.length}):`)
  for (const problem of compileProblems) console.log(`  ${problem}`)
}
if (linkProblems.length > 0) {
  console.log(`Broken links in the guides (${linkProblems.length}):`)
  for (const problem of linkProblems) console.log(`  ${problem}`)
}
const compiled = compileExamples ? `, ${exampleCount} example(s) compiled` : ", examples not compiled"
console.log(
  `docs:check: ${sites.length} export(s) and member(s) in ${publicModules.length} module(s) (${modules})${compiled}; ` +
    `${problems.length} missing, ${compileProblems.length} compile error(s); ` +
    `${guides.length} guide(s) (${guides.map(relative).join(", ")}), ${linkProblems.length} broken link(s)`
)
process.exit(problems.length + compileProblems.length + linkProblems.length > 0 ? 1 : 0)
