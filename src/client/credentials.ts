import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Trust } from './trust'

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

interface File {
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

/** Logins saved in `$GRIDX_HOME/credentials.json` (mode 0600), keyed by coordinator URL. */
export class CredentialStore {
  private readonly path: string

  constructor(private readonly home: string) {
    this.path = join(home, 'credentials.json')
  }

  private read(): File {
    if (!existsSync(this.path)) return { logins: {} }
    try {
      return parseFile(JSON.parse(readFileSync(this.path, 'utf8')))
    } catch {
      // A damaged file is treated as no login; the next login rewrites it whole.
      return { logins: {} }
    }
  }

  private write(data: File): void {
    mkdirSync(this.home, { recursive: true, mode: 0o700 })
    const tmp = `${this.path}.${process.pid}.tmp`
    writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 })
    chmodSync(tmp, 0o600)
    renameSync(tmp, this.path)
  }

  /** The coordinator of the last login, as the user typed it. */
  lastCoordinator(): string | undefined {
    const f = this.read()
    return f.current ? f.logins[f.current]?.coordinator : undefined
  }

  /** The coordinator (API URL) that answered the last call, if one was noted. */
  lastAnswered(): string | undefined {
    return this.read().answered
  }

  /** Notes the coordinator that answered; the file is written only when that changed. */
  noteAnswered(httpUrl: string): void {
    const f = this.read()
    if (f.answered === httpUrl || !f.current) return
    f.answered = httpUrl
    this.write(f)
  }

  /** The saved login for a coordinator URL. */
  get(httpUrl: string): SavedLogin | undefined {
    return this.read().logins[httpUrl]
  }

  /** Saves a login and makes its coordinator the current one. */
  save(httpUrl: string, login: SavedLogin): void {
    this.saveAll([[httpUrl, login]])
  }

  /**
   * Saves one login under every address of a grid (each with its own trust), the first address
   * becoming the current one: later commands and `gridx work` use them all.
   */
  saveAll(logins: readonly [string, SavedLogin][]): void {
    const f = this.read()
    for (const [url, login] of logins) f.logins[url] = login
    const first = logins[0]?.[0]
    if (first !== undefined) f.current = first
    this.write(f)
  }

  /** What was trusted for a coordinator at its login (a CA file's content, a pin). */
  trust(httpUrl: string): Trust | undefined {
    const saved = this.get(httpUrl)
    if (!saved?.ca && !saved?.pin) return undefined
    const pin = saved.pin && { fingerprint: saved.pin.fingerprint, anchor: saved.pin.anchor }
    return { ...(saved.ca ? { ca: saved.ca } : {}), ...(pin ? { pin } : {}) }
  }

  /** True when the pin saved for a coordinator was never checked against it (an address of a list that did not answer at the login). */
  pinUnchecked(httpUrl: string): boolean {
    return this.get(httpUrl)?.pin?.unchecked === true
  }

  /** Forgets the login for a coordinator, and the trust saved with it. */
  remove(httpUrl: string): void {
    const f = this.read()
    delete f.logins[httpUrl]
    if (f.current === httpUrl) delete f.current
    this.write(f)
  }
}
