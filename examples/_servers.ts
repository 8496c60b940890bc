/**
 * Where the examples find dflockd: DFLOCKD_SERVERS (comma-separated host:port),
 * default 127.0.0.1:6388. `npm run example` sets it to servers it starts.
 */
export const servers: ReadonlyArray<string> = (process.env["DFLOCKD_SERVERS"] ?? "127.0.0.1:6388")
  .split(",")
  .map((s) => s.trim())
  .filter((s) => s.length > 0)

/** The first server, for examples that need only one. */
export const server: string = servers[0] ?? "127.0.0.1:6388"
