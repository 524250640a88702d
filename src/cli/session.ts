import { ApiClient } from '../client/api'
import { CredentialStore } from '../client/credentials'
import { normalizeFingerprint, type Trust } from '../client/trust'
import { type Config, type ConnectionFlags, coordinatorAddress, loadConfig } from '../config'
import { GridError } from '../errors'
import { Credentials } from '../protocol/api'
import { readLine } from './line-reader'

/** A config, the coordinator it names, and an API client carrying the saved token, if any. */
export interface Session {
  config: Readonly<Config>
  creds: CredentialStore
  api: ApiClient
}

/** What code (not flags) adds to a session: a join, or discovery after the user said yes. */
export interface SessionOptions {
  /**
   * SHA-256 of the coordinator's certificate, from a join token or accepted on a terminal: the
   * first call checks the certificate against it and pins it; the login saves the pin.
   */
  pin?: string | undefined
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

/** Resolves flags + environment + saved login (with the trust saved with it) into a ready client. */
export function openSession(
  flags: ConnectionFlags,
  env?: Record<string, string | undefined>,
  opts: SessionOptions = {},
): Session {
  const config = loadConfig(flags, env)
  const creds = new CredentialStore(config.home)
  const addr = coordinatorAddress(config, creds.lastCoordinator())
  const saved = creds.get(addr.httpUrl)
  const remembered = creds.trust(addr.httpUrl)
  const trust = sessionTrust(config, remembered, addr.tls ? opts.pin : undefined)
  const unchecked = trust?.pin !== undefined && trust.pin !== remembered?.pin
  return { config, creds, api: new ApiClient(addr, saved?.token, trust, unchecked, config.proxy) }
}

/** Like `openSession`, but refuses to go on without a saved login. */
export function loggedIn(flags: ConnectionFlags, env?: Record<string, string | undefined>): Session {
  const s = openSession(flags, env)
  if (!s.creds.get(s.api.addr.httpUrl)) {
    throw new GridError(
      'not_logged_in',
      `not logged in to ${s.api.addr.httpUrl}: run 'gridx login --coordinator ${s.api.addr.input} --user NAME' first (or 'gridx register' for a new account)`,
    )
  }
  return s
}

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
export async function loginAndSave(s: Session, creds: Credentials, keepPassword = false): Promise<void> {
  const session = await s.api.login(creds)
  const trust = s.api.trust
  const earlier = s.creds.get(s.api.addr.httpUrl)
  const password = keepPassword ? creds.password : earlier?.user === creds.user ? earlier.password : undefined
  s.creds.save(s.api.addr.httpUrl, {
    ...session,
    coordinator: s.api.addr.input,
    ...(trust?.ca ? { ca: { path: trust.ca.path, pem: trust.ca.pem } } : {}),
    ...(trust?.pin ? { pin: trust.pin } : {}),
    ...(password === undefined ? {} : { password }),
  })
}
