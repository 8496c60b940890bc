/**
 * What `Lock` and `Semaphore` share: a lease on a key (a held lock or permit),
 * the options of an acquisition, a two-phase ticket, and what acquiring can
 * fail with. `Lock` and `Semaphore` name these under their own names.
 *
 * @since 0.1.0
 */
export {
  type AcquireError,
  type AcquireOptions,
  type EnqueueError,
  type Kind,
  type Lease,
  type Ticket,
  type TryAcquireError,
  TypeId,
  type WaitError
} from "./internal/lease/model.ts"
