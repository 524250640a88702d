// The second form of `$GRIDX_HOME/credentials.json`: named contexts (a coordinator and an
// account, like `docker context` and `gh auth`) and every saved login by coordinator and user,
// so a second account on a coordinator is added beside the first, never over it. A file of the
// first form (one login per coordinator) is turned into this one on first use (`migrate`).
import type { File as FileV1, SavedLogin } from './credentials-parse'

/** A named pair of coordinator (as the user typed it, a list allowed) and account. */
export interface ContextEntry {
  coordinator: string
  /** The account used there; undefined for a context added before anyone logged in to it. */
  user?: string
}

/** The file's second form. */
export interface Contexts {
  version: 2
  /** The current context: the last login, or the last `gridx context use`. */
  current?: string
  contexts: Record<string, ContextEntry>
  /** Saved logins by coordinator API URL, then user name. */
  logins: Record<string, Record<string, SavedLogin>>
  /** The coordinator (its API URL) that answered last. */
  answered?: string
}

/** What a context name may be: it names a directory nowhere, but is typed in shells and shown in tables. */
export const CONTEXT_NAME = /^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,99}$/

/** The default name of a context: `user@host[:port]` of the first address, as typed. */
export function contextName(user: string, coordinator: string): string {
  const first = (coordinator.split(',')[0] ?? coordinator).trim()
  const host = first.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '')
  const name = `${user}@${host}`.replace(/[^A-Za-z0-9._@:+-]/g, '-')
  return CONTEXT_NAME.test(name) ? name : `ctx-${user.replace(/[^A-Za-z0-9]/g, '')}`.slice(0, 100)
}

/** A name for a new context that no other context has. */
export function freeName(taken: Record<string, unknown>, wanted: string): string {
  if (!(wanted in taken)) return wanted
  for (let i = 2; ; i++) if (!(`${wanted}-${i}` in taken)) return `${wanted}-${i}`
}

/** The first form turned into the second: each login kept, one context per coordinator and user. */
export function migrate(old: FileV1): Contexts {
  const file: Contexts = { version: 2, contexts: {}, logins: {} }
  const contextOf = new Map<string, string>()
  for (const [url, login] of Object.entries(old.logins)) {
    ;(file.logins[url] ??= {})[login.user] = login
    const key = `${login.user}\n${login.coordinator}`
    let name = contextOf.get(key)
    if (name === undefined) {
      name = freeName(file.contexts, contextName(login.user, login.coordinator))
      file.contexts[name] = { coordinator: login.coordinator, user: login.user }
      contextOf.set(key, name)
    }
    if (old.current === url) file.current = name
  }
  if (old.answered !== undefined) file.answered = old.answered
  return file
}
