import type { AppDeps } from '../coordinator/app'
import type { QuotaGrant } from '../coordinator/quota'
import type { Observers } from '../coordinator/observe'
import type { UserRow } from '../coordinator/store'

/** What the dashboard's pages need: the same parts the API's routes are built from, and its own. */
export interface WebDeps extends Pick<
  AppDeps,
  | 'store'
  | 'auth'
  | 'lifecycle'
  | 'scheduler'
  | 'hub'
  | 'events'
  | 'clock'
  | 'settings'
  | 'blobs'
  | 'quota'
  | 'bodies'
  | 'publicUrl'
> {
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
