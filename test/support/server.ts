/**
 * The server under test, as the global setup described it: which binary, and
 * what it can do. Tests assert what the running server does: the feature where
 * it has it, the typed refusal where it does not. A test that cannot apply to
 * this server is skipped with the reason in its name (`needs(...)`).
 */
import { inject } from "vitest"
import type { Capability, ServerDescription } from "../../scripts/dflockd-server.ts"

export const server: ServerDescription = inject("dflockdServer")

/** True when the server under test has the capability. */
export const has = (capability: Capability): boolean => server.capabilities.includes(capability)

/**
 * A test-name suffix that says why the test may be skipped, e.g.
 * `it.skipIf(!has("tls"))(\`native TLS${needs("tls")}\`, ...)`.
 */
export const needs = (...capabilities: ReadonlyArray<Capability>): string => {
  const missing = capabilities.filter((capability) => !has(capability))
  return missing.length === 0
    ? ""
    : ` [skipped: ${server.label} lacks ${missing.join(", ")}]`
}
