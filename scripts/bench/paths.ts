/** Where the bench lives: the repository's root, its entry module (run again in child processes), its reports. */
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const here = Path.dirname(fileURLToPath(import.meta.url))

export const root = Path.resolve(here, "..", "..")
/** The module `npm run bench` runs, which {@link runSelf} runs again in child processes. */
export const entryPath = Path.join(here, "main.ts")
export const defaultResultsDir = Path.join(root, "bench", "results")
