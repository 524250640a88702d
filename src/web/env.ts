import type { Auth } from '../coordinator/auth'
import type { BlobStore } from '../coordinator/blobs'
import type { JobEvents } from '../coordinator/events'
import type { Hub } from '../coordinator/hub'
import type { QuotaGrant, StorageQuota } from '../coordinator/quota'
import type { InFlight } from '../coordinator/user-caps'
import type { Lifecycle } from '../coordinator/lifecycle'
import type { Observers } from '../coordinator/observe'
import type { Scheduler } from '../coordinator/scheduler'
import type { Clock, Settings } from '../coordinator/settings'
import type { Store, UserRow } from '../coordinator/store'

/** What the dashboard's pages need: the same parts the API's routes are built from. */
export interface WebDeps {
  store: Store
  auth: Auth
  lifecycle: Lifecycle
  scheduler: Scheduler
  hub: Hub
  events: JobEvents
  clock: Clock
  settings: Settings
  blobs: BlobStore
  /** The users' storage quota, shared with the API's uploads (one is made when not given). */
  quota?: StorageQuota | undefined
  /** Each user's requests with bodies in flight, shared with the API (`maxBodiesPerUser`). */
  bodies?: InFlight | undefined
  /** Served over TLS, or `--public-url` is https: the session cookie is always `Secure`. */
  secure: boolean
  /** The coordinator's `--public-url`: a form post's `Origin` may name it (see session.ts). */
  publicUrl?: string | undefined
  /** The coordinator's free-text log: the dashboard's internal errors go there. */
  log?: ((line: string) => void) | undefined
  /** Lifts the HTTP idle timeout for one long-lived answer (a live page's event stream); returns what restores it. */
  holdOpen?: ((req: Request) => () => void) | undefined
  /** Where the dashboard hears job transitions and workers joining or leaving (its live pages). */
  observers?: Observers | undefined
}

/** Per request of a dashboard page: the client's address, the logged-in user, its CSRF token. */
export type WebEnv = {
  Bindings: { ip?: string | undefined } | undefined
  /** `upload`: the storage quota a run form's upload reserved before its body was read. */
  Variables: { user: UserRow; csrf: string; upload: QuotaGrant | undefined }
}
