import { ApiClient } from '../client/api'
import { CredentialStore } from '../client/credentials'
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

/** Resolves flags + environment + saved login into a ready client. */
export function openSession(flags: ConnectionFlags, env?: Record<string, string | undefined>): Session {
  const config = loadConfig(flags, env)
  const creds = new CredentialStore(config.home)
  const addr = coordinatorAddress(config, creds.lastCoordinator())
  const saved = creds.get(addr.httpUrl)
  return { config, creds, api: new ApiClient(addr, saved?.token, config.caCert, config.proxy) }
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

/** Logs in and saves the token in `$GRIDX_HOME/credentials.json`. */
export async function loginAndSave(s: Session, creds: Credentials): Promise<void> {
  const session = await s.api.login(creds)
  s.creds.save(s.api.addr.httpUrl, { ...session, coordinator: s.api.addr.input })
}
