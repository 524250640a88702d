import type { Context } from 'hono'
import { UPLOAD } from '../coordinator/job-files'
import { declaredBody } from '../coordinator/http-limits'
import { StorageQuota } from '../coordinator/quota'
import type { UserRow } from '../coordinator/store'
import { takeBodySlot } from '../coordinator/user-caps'
import type { WebDeps, WebEnv } from './env'

/**
 * Admits a form post's body before a byte of it is read: it takes one of the user's
 * `maxBodiesPerUser` slots, counted with the API's (a 429 past it), and the run form reserves the
 * user's storage quota for its declared size (a 413 when it cannot fit). Returns what gives both back.
 */
export async function admitBody(c: Context<WebEnv>, deps: WebDeps, user: UserRow): Promise<() => void> {
  const { declared, present } = declaredBody(c.req.raw)
  if (!present) return () => undefined
  const release = deps.bodies ? takeBodySlot(deps.settings, deps.bodies, user.id) : () => undefined
  if (c.req.method !== 'POST' || c.req.path !== '/run') return release
  try {
    const grant = await quotaOf(deps).open(user.id, declared, UPLOAD)
    c.set('upload', grant)
    return () => {
      grant.release()
      release()
    }
  } catch (err) {
    release()
    throw err
  }
}

const made = new WeakMap<WebDeps, StorageQuota>()

/** The storage quota the API shares (a dashboard built without one makes its own, once). */
export function quotaOf(deps: WebDeps): StorageQuota {
  if (deps.quota) return deps.quota
  let q = made.get(deps)
  if (!q) made.set(deps, (q = new StorageQuota(deps.store, deps.settings, deps.clock)))
  return q
}
