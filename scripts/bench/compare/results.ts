/** Where a comparison writes its report and data. */
import { mkdirSync, writeFileSync } from "node:fs"
import * as Path from "node:path"

/** Writes a comparison's report, `<dir>/<name>.md` (`--out`, default bench/results), and its data, `<name>.json`. */
export const writeResults = (dir: string, name: string, markdown: string, data: unknown): void => {
  mkdirSync(dir, { recursive: true })
  writeFileSync(Path.join(dir, `${name}.md`), markdown)
  writeFileSync(Path.join(dir, `${name}.json`), JSON.stringify(data, null, 2) + "\n")
}
