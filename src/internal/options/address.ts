/**
 * Server addresses as option values: `ServerAddress.parse`, failing with an
 * `InvalidArgumentError` for the `servers` option.
 */
import * as Result from "effect/Result"
import { InvalidArgumentError } from "../../Errors.ts"
import * as ServerAddress from "../../ServerAddress.ts"
import { show } from "../util/show.ts"

export const parseAddress = (
  input: ServerAddress.ServerInput
): Result.Result<ServerAddress.ServerAddress, InvalidArgumentError> =>
  Result.mapError(
    ServerAddress.parse(input),
    (detail) => new InvalidArgumentError({ argument: "servers", value: show(input), detail })
  )
