/**
 * TLS and auth options.
 *
 * The server `npm run example` starts (dflockd 0.5.0) speaks plain TCP and has
 * no `--auth-token`, so:
 * - the TLS locks are only constructed here (options are checked, nothing
 *   connects): against a TLS server they work as written;
 * - the auth lock does connect, and shows what a refused token looks like: this
 *   server does not know the `auth` command and refuses it, which the client
 *   reports as `AuthError`.
 */
import * as fs from "node:fs"
import { AuthError, DistributedLock } from "effect-dflockd/promise"
import { server } from "./_servers.ts"

const systemCa = new DistributedLock({ key: "my-resource", tls: {} }) // system CA
console.log(`constructed ${systemCa.key} with tls: {} (system CAs); not connected: the example server has no TLS`)

const caFile = process.env["DFLOCKD_CA_FILE"] // e.g. ca.pem
if (caFile !== undefined) {
  const ownCa = new DistributedLock({ key: "my-resource", tls: { ca: fs.readFileSync(caFile) } })
  console.log(`constructed ${ownCa.key} with tls: { ca: fs.readFileSync(${JSON.stringify(caFile)}) }; not connected`)
} else {
  console.log("tls: { ca: fs.readFileSync(\"ca.pem\") } trusts your own CA: set DFLOCKD_CA_FILE to construct it here")
}

const withToken = new DistributedLock({ key: "my-resource", auth: "secret-token", servers: [server] })
try {
  await withToken.acquire()
  console.log(`authenticated and acquired: token=${withToken.token}`)
  await withToken.release()
} catch (err) {
  if (!(err instanceof AuthError)) throw err
  console.log(`auth: "secret-token" -> ${err.name}: ${err.message} (this server has no auth, so it refuses any token)`)
}
