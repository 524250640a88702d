// Reading `$GRIDX_HOME/credentials.json`, both forms: the first (one login per coordinator) and
// the second (contexts, and logins by coordinator and user; see ./contexts-file.ts).
import type { Contexts, ContextEntry } from './contexts-file'

/** One saved login. */
export interface SavedLogin {
  user: string
  token: string
  expiresAt: string
  coordinator: string
  /** The `--ca-cert` given at login, kept whole: later commands need neither the flag nor the file. */
  ca?: { path: string; pem: string }
  /** The certificate pinned at a join: only it is accepted from this coordinator. */
  pin?: {
    fingerprint: string
    anchor?: string
    /** True for an address of the list whose certificate was not read at the login: read it (and pin it) before the first call. */
    unchecked?: boolean
  }
  /**
   * The password `gridx work --join` made for this machine's own account (no one typed one), so
   * the worker can log in again when its token expires. This file is mode 0600.
   */
  password?: string
}

/** The file's first form: one login per coordinator. */
export interface File {
  current?: string
  logins: Record<string, SavedLogin>
  /** The coordinator (its API URL) that answered last: tried first next time, so a grid's commands stay on one. */
  answered?: string
}

// The file is checked by hand, not by a zod schema: every client command reads it, and building
// and running the schema was a tenth of a `gridx submit`'s CPU. Unknown keys are dropped; a
// field of the wrong type makes the whole file unreadable (see `read`).

/** Thrown inside `parseFile` for a field of the wrong type. */
const DAMAGED = new Error('damaged credentials file')

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function text(v: unknown): string {
  if (typeof v !== 'string') throw DAMAGED
  return v
}

/** An optional field: absent stays absent. */
function maybe<T>(o: Record<string, unknown>, key: string, read: (v: unknown) => T): { [k: string]: T } {
  return o[key] === undefined ? {} : { [key]: read(o[key]) }
}

function record(v: unknown): Record<string, unknown> {
  if (!isRecord(v)) throw DAMAGED
  return v
}

function savedLogin(v: unknown): SavedLogin {
  const o = record(v)
  return {
    user: text(o['user']),
    token: text(o['token']),
    expiresAt: text(o['expiresAt']),
    coordinator: text(o['coordinator']),
    ...maybe(o, 'ca', (ca) => ({ path: text(record(ca)['path']), pem: text(record(ca)['pem']) })),
    ...maybe(o, 'pin', (p) => {
      const pin = record(p)
      return {
        fingerprint: text(pin['fingerprint']),
        ...maybe(pin, 'anchor', text),
        ...maybe(pin, 'unchecked', (u) => {
          if (typeof u !== 'boolean') throw DAMAGED
          return u
        }),
      }
    }),
    ...maybe(o, 'password', text),
  }
}

/** The credentials file's JSON as a `File`; throws for a field of the wrong type. */
export function parseFile(json: unknown): File {
  const o = record(json)
  const logins: Record<string, SavedLogin> = {}
  const given = o['logins'] === undefined ? {} : record(o['logins'])
  for (const [url, login] of Object.entries(given)) logins[url] = savedLogin(login)
  return { ...maybe(o, 'current', text), logins, ...maybe(o, 'answered', text) }
}

/** The second form's JSON as `Contexts`; throws for a field of the wrong type. */
export function parseContexts(json: unknown): Contexts {
  const o = record(json)
  const contexts: Record<string, ContextEntry> = {}
  for (const [name, c] of Object.entries(o['contexts'] === undefined ? {} : record(o['contexts']))) {
    const r = record(c)
    contexts[name] = { coordinator: text(r['coordinator']), ...maybe(r, 'user', text) }
  }
  const logins: Record<string, Record<string, SavedLogin>> = {}
  for (const [url, users] of Object.entries(o['logins'] === undefined ? {} : record(o['logins']))) {
    const byUser: Record<string, SavedLogin> = {}
    for (const [user, login] of Object.entries(record(users))) byUser[user] = savedLogin(login)
    logins[url] = byUser
  }
  return { version: 2, ...maybe(o, 'current', text), contexts, logins, ...maybe(o, 'answered', text) }
}
