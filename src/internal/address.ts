/**
 * Server addresses: `host:port` strings (IPv6 as `[::1]:6388`) or `[host, port]` pairs.
 */
import * as Result from "effect/Result"
import { InvalidArgumentError } from "../Errors.ts"
import { show } from "./show.ts"

export interface ServerAddress {
  readonly host: string
  readonly port: number
  /** `host:port`, as used in errors and metrics. */
  readonly label: string
}

export type ServerInput = string | readonly [host: string, port: number]

const invalid = (input: ServerInput, detail: string) =>
  Result.fail(new InvalidArgumentError({ argument: "servers", value: show(input), detail }))

export const parseAddress = (input: ServerInput): Result.Result<ServerAddress, InvalidArgumentError> => {
  let host: string
  let portText: string
  if (typeof input === "string") {
    const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(input.trim())
    if (match === null) return invalid(input, "expected host:port (IPv6 as [::1]:6388)")
    host = match[1] ?? match[2] ?? ""
    portText = match[3] ?? ""
  } else {
    host = input[0]
    portText = String(input[1])
  }
  const port = Number(portText)
  if (host.length === 0) return invalid(input, "the host is empty")
  if (!Number.isInteger(port) || port < 1 || port > 65535) return invalid(input, "the port must be from 1 to 65535")
  const label = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`
  return Result.succeed({ host, port, label })
}
