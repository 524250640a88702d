import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { GridError } from '../errors'
import { type ContextEntry, type Contexts, contextName, freeName, migrate } from './contexts-file'
import { parseContexts, parseFile, type SavedLogin } from './credentials-parse'
import type { Trust } from './trust'

export { parseFile, type SavedLogin } from './credentials-parse'

// The file is checked by hand, not by a zod schema: every client command reads it, and building
// and running the schema was a tenth of a `gridx submit`'s CPU. Unknown keys are dropped; a
// field of the wrong type makes the whole file unreadable (see `read`).

/** One context as listed: its name, whether it is current, and whether its account has a login saved. */
export interface ContextView extends ContextEntry {
  name: string
  current: boolean
  loggedIn: boolean
}

/** What `saveLogin` did: the context that holds the login (now current) and the one that was current before. */
export interface Saved {
  context: string
  created: boolean
  previous: string | undefined
}

/**
 * Logins saved in `$GRIDX_HOME/credentials.json` (mode 0600, written whole and renamed into
 * place), by coordinator URL and user, and the named contexts that pair a coordinator with an
 * account. `select` is a context named for this command (`--context`, GRIDX_CONTEXT); without it
 * the current context (the last login or `gridx context use`) is the active one.
 */
export class CredentialStore {
  private readonly path: string

  constructor(
    private readonly home: string,
    private readonly select?: string,
  ) {
    this.path = join(home, 'credentials.json')
  }

  private read(): Contexts {
    if (!existsSync(this.path)) return { version: 2, contexts: {}, logins: {} }
    let json: unknown
    try {
      json = JSON.parse(readFileSync(this.path, 'utf8'))
      if ((json as { version?: unknown } | null)?.version === 2) return parseContexts(json)
    } catch {
      // A damaged file is treated as no login; the next login rewrites it whole.
      return { version: 2, contexts: {}, logins: {} }
    }
    // The first form (one login per coordinator): turned into contexts, every login kept.
    let old
    try {
      old = parseFile(json)
    } catch {
      return { version: 2, contexts: {}, logins: {} }
    }
    const migrated = migrate(old)
    this.write(migrated)
    return migrated
  }

  private write(data: Contexts): void {
    mkdirSync(this.home, { recursive: true, mode: 0o700 })
    const tmp = `${this.path}.${process.pid}.tmp`
    writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 })
    chmodSync(tmp, 0o600)
    renameSync(tmp, this.path)
  }

  /** The name of the active context: the selected one, else the current one (undefined: none). */
  activeName(): string | undefined {
    return this.select ?? this.read().current
  }

  /** The active context, if it exists. */
  active(): ContextEntry | undefined {
    return this.activeIn(this.read())
  }

  private activeIn(f: Contexts): ContextEntry | undefined {
    const name = this.select ?? f.current
    return name === undefined ? undefined : f.contexts[name]
  }

  /** The coordinator of the active context (the last login's), as the user typed it. */
  lastCoordinator(): string | undefined {
    return this.active()?.coordinator
  }

  /** The coordinator (API URL) that answered the last call, if one was noted. */
  lastAnswered(): string | undefined {
    return this.read().answered
  }

  /** Notes the coordinator that answered; the file is written only when that changed. */
  noteAnswered(httpUrl: string): void {
    const f = this.read()
    if (f.answered === httpUrl || f.current === undefined) return
    this.write({ ...f, answered: httpUrl })
  }

  /**
   * The saved login for a coordinator URL: the active context's account's, else (another
   * coordinator named by flag) the only one saved there, else the first.
   */
  get(httpUrl: string): SavedLogin | undefined {
    const f = this.read()
    const byUser = f.logins[httpUrl]
    if (!byUser) return undefined
    const user = this.activeIn(f)?.user
    if (user !== undefined && byUser[user]) return byUser[user]
    // A context named for this command names its account: no other account answers for it.
    if (user !== undefined && this.select !== undefined) return undefined
    return Object.values(byUser)[0]
  }

  /** Saves a login and makes its context the current one. */
  save(httpUrl: string, login: SavedLogin): void {
    this.saveAll([[httpUrl, login]])
  }

  /** Saves one login under every address of a grid, its context becoming the current one. */
  saveAll(logins: readonly [string, SavedLogin][]): Saved | undefined {
    const first = logins[0]?.[1]
    return first ? this.saveLogin(first.coordinator, first.user, logins) : undefined
  }

  /**
   * Saves one account's login under every address of a grid (each with its own trust) beside
   * any other account's, in the context `name` (else the one of this coordinator and account,
   * else a new `user@host`), which becomes current.
   */
  saveLogin(
    coordinator: string,
    user: string,
    logins: readonly [string, SavedLogin][],
    name = this.select,
  ): Saved {
    const f = structuredClone(this.read())
    for (const [url, login] of logins) (f.logins[url] ??= {})[user] = login
    const same = Object.entries(f.contexts).find(([, c]) => c.coordinator === coordinator && c.user === user)
    const current = f.current === undefined ? undefined : f.contexts[f.current]
    const unclaimed = current && current.user === undefined && current.coordinator === coordinator
    const chosen =
      name ?? same?.[0] ?? (unclaimed ? f.current : freeName(f.contexts, contextName(user, coordinator)))!
    const created = !(chosen in f.contexts)
    f.contexts[chosen] = { coordinator, user }
    const previous = f.current
    f.current = chosen
    this.write(f)
    return { context: chosen, created, previous }
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

  /**
   * Forgets the active account's login for a coordinator, and the trust saved with it; a
   * context left with no login anywhere goes too (as `gh auth logout` forgets the account).
   */
  remove(httpUrl: string): void {
    const f = structuredClone(this.read())
    const login = this.get(httpUrl)
    if (login) delete f.logins[httpUrl]?.[login.user]
    if (f.logins[httpUrl] && Object.keys(f.logins[httpUrl]).length === 0) delete f.logins[httpUrl]
    for (const [name, c] of Object.entries(f.contexts)) {
      if (c.user !== login?.user || c.coordinator !== login?.coordinator || this.hasLogin(f, c)) continue
      delete f.contexts[name]
      if (f.current === name) delete f.current
    }
    this.write(f)
  }

  /** Every context, by name. */
  list(): ContextView[] {
    const f = this.read()
    return Object.entries(f.contexts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, c]) => ({ name, ...c, current: name === f.current, loggedIn: this.hasLogin(f, c) }))
  }

  private hasLogin(f: Contexts, c: ContextEntry): boolean {
    if (c.user === undefined) return false
    return Object.values(f.logins).some((byUser) => byUser[c.user!]?.coordinator === c.coordinator)
  }

  /** Makes `name` the current context. */
  use(name: string): ContextEntry {
    const f = this.read()
    const c = this.must(f, name)
    this.write({ ...f, current: name })
    return c
  }

  /** Adds a context (no login yet: the next `gridx login --context NAME` fills in its account). */
  add(name: string, entry: ContextEntry): void {
    const f = this.read()
    if (name in f.contexts)
      throw new GridError(
        'context_exists',
        `a context named '${name}' exists already: remove it first ('gridx context rm ${name}') or pick another name`,
      )
    this.write({ ...f, contexts: { ...f.contexts, [name]: entry } })
  }

  /** Removes a context, and its account's logins unless another context uses them. */
  rm(name: string): void {
    const f = structuredClone(this.read())
    const c = this.must(f, name)
    delete f.contexts[name]
    if (f.current === name) delete f.current
    const shared = Object.values(f.contexts).some((o) => o.user === c.user && o.coordinator === c.coordinator)
    if (c.user !== undefined && !shared) {
      for (const [url, byUser] of Object.entries(f.logins)) {
        if (byUser[c.user]?.coordinator === c.coordinator) delete byUser[c.user]
        if (Object.keys(byUser).length === 0) delete f.logins[url]
      }
    }
    this.write(f)
  }

  private must(f: Contexts, name: string): ContextEntry {
    const c = f.contexts[name]
    if (!c) throw noContext(name, Object.keys(f.contexts))
    return c
  }
}

/** The error for a context name that is not saved. */
export function noContext(name: string, names: readonly string[]): GridError {
  const known = names.length > 0 ? `: the contexts are ${names.join(', ')}` : ': there are none yet'
  return new GridError(
    'no_context',
    `no context named '${name}'${known} ('gridx context ls' lists them, 'gridx login --context ${name}' makes one)`,
    { status: 400 },
  )
}
