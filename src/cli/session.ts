import type { CoordinatorAddress } from '../client/address'
import { listInput } from '../client/address-list'
import { ApiClient } from '../client/api'
import { CredentialStore, noContext, type Saved, type SavedLogin } from '../client/credentials'
import { type Endpoint, EndpointList } from '../client/failover'
import { normalizeFingerprint, type Trust } from '../client/trust'
import { type Config, type ConnectionFlags, coordinatorAddresses, loadConfig } from '../config'
import { GridError } from '../errors'
import type { Credentials } from '../protocol/api'
import { readLine } from './line-reader'

/** A config, the coordinator it names, and an API client carrying the saved token, if any. */
export interface Session {
  config: Readonly<Config>
  creds: CredentialStore
  api: ApiClient
  /** The coordinators named (`--coordinator a,b,c`, the last login's list), as given, before any name became its records. */
  addrs: CoordinatorAddress[]
}

/** What code (not flags) adds to a session: a join, or discovery after the user said yes. */
export interface SessionOptions {
  /**
   * SHA-256 of the coordinator's certificate, from a join token or accepted on a terminal: the
   * first call checks the certificate against it and pins it; the login saves the pin.
   */
  pin?: string | undefined
  /** A login or register: a context named by `--context` that does not exist yet is made by it. */
  newContext?: boolean
}

/** The trust of a session: `--ca-cert` (flag, env, config file) first, else what the login saved; a pin from code wins. */
function sessionTrust(
  config: Readonly<Config>,
  saved: Trust | undefined,
  pin: string | undefined,
): Trust | undefined {
  const ca = config.caCert ? { path: config.caCert.path, pem: config.caCert.pem } : saved?.ca
  const fingerprint = pin === undefined ? undefined : normalizeFingerprint(pin)
  if (pin !== undefined && !fingerprint)
    throw new GridError(
      'bad_fingerprint',
      `'${pin}' is not a SHA-256 certificate fingerprint (64 hex digits)`,
    )
  const kept =
    fingerprint === undefined || fingerprint === saved?.pin?.fingerprint ? saved?.pin : { fingerprint }
  if (!ca && !kept) return undefined
  return { ...(ca ? { ca } : {}), ...(kept ? { pin: kept } : {}) }
}

/** One address of the session's list, with the trust saved for it (or given). */
function endpoint(
  config: Readonly<Config>,
  creds: CredentialStore,
  addr: CoordinatorAddress,
  pin?: string,
): Endpoint {
  const remembered = creds.trust(addr.httpUrl)
  const trust = sessionTrust(config, remembered, addr.tls ? pin : undefined)
  const unchecked =
    trust?.pin !== undefined && (trust.pin !== remembered?.pin || creds.pinUnchecked(addr.httpUrl))
  return { addr, key: addr.httpUrl, trust, pinUnchecked: unchecked, reached: false }
}

/**
 * Resolves flags + environment + saved login (with the trust saved with it) into a ready client.
 * `--coordinator a,b,c` gives it several addresses, each with its own trust: it starts at the
 * one that answered last and moves on when one fails.
 */
export function openSession(
  flags: ConnectionFlags,
  env?: Record<string, string | undefined>,
  opts: SessionOptions = {},
): Session {
  const config = loadConfig(flags, env)
  const creds = new CredentialStore(config.home, config.context?.name)
  if (config.context && !opts.newContext && !creds.active())
    throw noContext(
      config.context.name,
      creds.list().map((c) => c.name),
    )
  const addrs = coordinatorAddresses(config, creds.lastCoordinator())
  // The grid's coordinators share their accounts: the login saved for any of them serves all.
  const saved = addrs.map((a) => creds.get(a.httpUrl)).find((l) => l !== undefined)
  const list = new EndpointList(
    addrs.map((a) => endpoint(config, creds, a, opts.pin)),
    creds.lastAnswered(),
  )
  const api = new ApiClient(list, saved?.token, undefined, false, config.proxy)
  if (saved) api.onAnswered = (addr) => creds.noteAnswered(addr.httpUrl)
  return { config, creds, api, addrs }
}

/** The saved login of a session: of whichever of its addresses has one. */
export function savedLogin(s: Session): SavedLogin | undefined {
  return s.addrs.map((a) => s.creds.get(a.httpUrl)).find((l) => l !== undefined)
}

/** Like `openSession`, but refuses to go on without a saved login. */
export function loggedIn(flags: ConnectionFlags, env?: Record<string, string | undefined>): Session {
  const s = openSession(flags, env)
  if (!savedLogin(s)) {
    throw new GridError(
      'not_logged_in',
      `not logged in to ${s.api.addr.httpUrl}: run 'gridx login --coordinator ${listInput(s.addrs)} --user NAME' first (or 'gridx register' for a new account)`,
    )
  }
  return s
}

type SavedPin = NonNullable<SavedLogin['pin']>

/** Reads a line from the terminal, without echo when `hidden`; all prompts share one reader. */
export function prompt(question: string, hidden: boolean): Promise<string> {
  return readLine(question, hidden)
}

/** User and password from flags or environment, else asked on the terminal. */
export async function credentials(config: Readonly<Config>): Promise<Credentials> {
  let user = config.user
  let password = config.password
  const tty = process.stdin.isTTY === true
  if (!user && tty) user = (await prompt('user: ', false)).trim()
  if (password === undefined && tty) password = await prompt('password: ', true)
  if (!user || password === undefined) {
    throw new GridError(
      'no_credentials',
      'no user or password given: pass --user and --password, or set GRIDX_USER and GRIDX_PASSWORD',
    )
  }
  // The schemas load here, not with every command that opens a session (a submit needs none).
  const { Credentials } = await import('../protocol/api')
  const r = Credentials.safeParse({ user, password })
  if (!r.success)
    throw new GridError('bad_credentials', r.error.issues[0]?.message ?? 'invalid user or password')
  return r.data
}

/**
 * Logs in and saves the token in `$GRIDX_HOME/credentials.json`, with what this session trusts
 * (the `--ca-cert` file's content, a pin) so later commands need no flag; `keepPassword` for an
 * account `gridx work --join` made, whose password no one knows.
 */
export async function loginAndSave(s: Session, creds: Credentials, keepPassword = false): Promise<Saved> {
  const session = await s.api.login(creds)
  const earlier = savedLogin(s)
  const password = keepPassword ? creds.password : earlier?.user === creds.user ? earlier.password : undefined
  // The whole list is saved, under each address with its own trust: later commands use them all.
  const coordinator = listInput(s.addrs)
  const saved = s.creds.saveLogin(
    coordinator,
    creds.user,
    s.addrs.map((a) => {
      const trust = savedTrust(s, a.httpUrl)
      return [
        a.httpUrl,
        {
          ...session,
          coordinator,
          ...(trust?.ca ? { ca: { path: trust.ca.path, pem: trust.ca.pem } } : {}),
          ...(trust?.pin ? { pin: trust.pin } : {}),
          ...(password === undefined ? {} : { password }),
        },
      ]
    }),
  )
  s.creds.noteAnswered(s.api.addr.httpUrl)
  return saved
}

/**
 * What a login says about its context: which one is now current and, when it replaced another
 * as the current one, that the other (and its login) is kept and how to go back to it.
 */
export function contextNote(saved: Saved): string {
  const made = saved.created ? ' (new)' : ''
  const back =
    saved.previous !== undefined && saved.previous !== saved.context
      ? `; context '${saved.previous}' is kept ('gridx context use ${saved.previous}' switches back)`
      : ''
  return `current context: '${saved.context}'${made}${back}`
}

/**
 * What to save as trusted for one address of the list: its own, once checked. A pin not yet
 * checked there takes the checked one of the same fingerprint (a token's addresses are one
 * coordinator, one certificate), else is saved as unchecked, to be read before its first use.
 */
function savedTrust(s: Session, key: string): (Trust & { pin?: SavedPin }) | undefined {
  const eps = s.api.endpoints.all.filter((e) => e.key === key)
  const ep = eps.find((e) => !e.pinUnchecked) ?? eps[0]
  const trust = ep?.trust
  if (!trust?.pin || !ep?.pinUnchecked) return trust
  const current = s.api.endpoints.current
  if (!current.pinUnchecked && current.trust?.pin?.fingerprint === trust.pin.fingerprint)
    return { ...trust, pin: current.trust.pin }
  return { ...trust, pin: { fingerprint: trust.pin.fingerprint, unchecked: true } }
}
