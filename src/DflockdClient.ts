/**
 * The dflockd client service: where the servers are, how keys are routed to
 * them, and the one place locks get their connections from.
 *
 * @since 0.1.0
 */
export {
  type ClientOptions,
  config,
  DflockdClient,
  type Dialer,
  isDflockdClient,
  layer,
  layerConfig,
  make,
  makeWith,
  type ResolvedOptions,
  resolveOptions,
  stats,
  type StatsError,
  type TlsOptions,
  TypeId
} from "./internal/client/client.ts"
