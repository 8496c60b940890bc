/** Child processes: a command run without blocking the event loop, and this bench run again. */
import { type ChildProcess, spawn } from "node:child_process"
import { entryPath } from "./paths.ts"

export interface Output {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs a command without blocking this process's event loop (a server's log pipe keeps draining). */
export const run = (command: string, argv: ReadonlyArray<string>, stdio: "pipe" | "inherit"): Promise<Output> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(command, argv, { stdio: ["ignore", stdio, stdio] })
    let stdout = ""
    let stderr = ""
    child.stdout?.setEncoding("utf8").on("data", (t: string) => (stdout += t))
    child.stderr?.setEncoding("utf8").on("data", (t: string) => (stderr += t))
    child.on("error", reject)
    child.on("close", (code, signal) => resolve({ code: code ?? (signal === null ? 1 : 128), stdout, stderr }))
  })

/** The bench again ({@link entryPath}), in a child process; `argv` names its mode and servers. */
export const runSelf = (
  argv: ReadonlyArray<string>,
  stdio: "pipe" | "inherit",
  nodeFlags: ReadonlyArray<string> = []
) => run(process.execPath, [...nodeFlags, "--conditions=effect-dflockd-source", entryPath, ...argv], stdio)
