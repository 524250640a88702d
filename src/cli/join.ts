import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { decodeJoinToken, type JoinToken } from '../client/join-token'
import { isLoopback } from '../client/proxy'
import { type ConnectionFlags, loadConfig } from '../config'
import { GridError } from '../errors'
import type { Credentials, Registered } from '../protocol/api'
import { note } from './options'
import { credentials, loginAndSave, openSession, savedLogin, type Session } from './session'

type Env = Record<string, string | undefined>

/** A session opened from a join token, and the token. */
export interface Joined {
  s: Session
  token: JoinToken
}

/** The join token of `--join` or GRIDX_JOIN, read and checked; undefined when none was given. */
export function joinToken(flags: ConnectionFlags, env?: Env): JoinToken | undefined {
  const text = loadConfig(flags, env).join
  if (text === undefined) return undefined
  if (flags.coordinator)
    throw new GridError(
      'usage',
      '--join already names the coordinator: give --join or --coordinator, not both',
    )
  return decodeJoinToken(text)
}

/**
 * The warning for a token naming a plain-http coordinator on another machine: nothing is pinned
 * and passwords cross the network readable; undefined for https or this machine.
 */
export function plainHttpWarning(url: string): string | undefined {
  const u = new URL(url)
  if (u.protocol !== 'http:' || isLoopback(u.hostname)) return undefined
  return `warning: the coordinator at ${u.host} serves plain http: no certificate is pinned, and passwords, tokens and jobs cross the network unencrypted. On a network you do not trust, ask its operator to run 'gridx serve --self-signed' and send a new join line`
}

/**
 * Opens a session on the token's addresses (all of them: the login saves the list, so later
 * commands and `gridx work` move between them), at the first that answers, its certificate
 * checked against the token's fingerprint and pinned. A certificate that is not the pinned one
 * stops at once (trying the next address would only hide it); an address that does not answer
 * is skipped.
 */
export async function joinSession(token: JoinToken, flags: ConnectionFlags, env?: Env): Promise<Session> {
  const s = openSession({ ...flags, coordinator: token.urls.join(',') }, env, {
    pin: token.fingerprint,
    newContext: true,
  })
  try {
    await s.api.health()
  } catch (err) {
    if (!(err instanceof GridError)) throw err
    if (err.code !== 'no_coordinator_answers' && err.code !== 'coordinator_unreachable') throw err
    const detail = err.code === 'coordinator_unreachable' ? `${token.urls[0]}: ${err.message}` : err.message
    throw new GridError(
      'coordinator_unreachable',
      `no address of the join token answered:\n  ${detail}\nIs 'gridx serve' running, and can this machine reach it (same network or VPN, firewall open)?`,
      { retryable: true, cause: err },
    )
  }
  const warning = plainHttpWarning(s.api.addr.httpUrl)
  if (warning) note(warning)
  return s
}

/** The coordinator's invite refusals, said as the token's: the words already say what to do. */
function asToken(err: unknown): unknown {
  if (err instanceof GridError && err.code.startsWith('invite_'))
    return new GridError(err.code, `the join token was refused: ${err.message}`, { status: err.status })
  return err
}

/** Registers with the token's invite; the account is logged in and saved with the pin. */
export async function registerJoined(
  j: Joined,
  creds: Credentials,
  keepPassword = false,
): Promise<Registered> {
  let made: Registered
  try {
    made = await j.s.api.register({ ...creds, ...(j.token.invite ? { invite: j.token.invite } : {}) })
  } catch (err) {
    throw asToken(err)
  }
  await loginAndSave(j.s, creds, keepPassword)
  return made
}

/** Logs in an existing account, or registers it with the token's invite when there is none. */
async function loginOrRegister(j: Joined, creds: Credentials): Promise<void> {
  try {
    await loginAndSave(j.s, creds)
    note(`logged in to ${j.s.api.addr.httpUrl} as '${creds.user}'`)
    return
  } catch (err) {
    if (!(err instanceof GridError) || err.code !== 'bad_credentials') throw err
    const made = await registerJoined(j, creds).catch((e: unknown) => {
      // The account exists, so it was the password that was wrong.
      throw e instanceof GridError && e.code === 'user_exists' ? err : e
    })
    note(
      `registered '${made.user}' on ${j.s.api.addr.httpUrl} and logged in${made.operator ? ' (the first account: you are its operator)' : ''}`,
    )
  }
}

/** A user name from this machine's host name, within the coordinator's rules for names. */
export function machineAccountName(host = hostname()): string {
  const base = host
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 24)
  return base.length >= 2 ? base : `worker-${base || 'host'}`
}

/**
 * `gridx work --join` with nobody to ask: an account of this machine's own, named after it, with
 * a generated password saved (0600) beside the login so the worker can log in again when its
 * token expires. On a second run the saved one is used.
 */
async function machineAccount(j: Joined): Promise<Credentials> {
  const saved = savedLogin(j.s)
  if (saved?.password) {
    const creds = { user: saved.user, password: saved.password }
    await loginAndSave(j.s, creds, true)
    return creds
  }
  const password = randomBytes(24).toString('base64url')
  let user = machineAccountName()
  for (let attempt = 0; ; attempt++) {
    try {
      const made = await registerJoined(j, { user, password }, true)
      note(
        `registered the account '${made.user}' for this machine${made.operator ? " (the coordinator's first account: it is the operator)" : ''}; its generated password is saved in ${j.s.config.home}/credentials.json (mode 0600) so the worker can log in again`,
      )
      return { user, password }
    } catch (err) {
      // Another machine of the same name joined first: the next name is this one with a suffix.
      if (!(err instanceof GridError) || err.code !== 'user_exists' || attempt >= 3) throw err
      user = `${machineAccountName().slice(0, 24)}-${randomBytes(3).toString('hex')}`
    }
  }
}

/**
 * The account of a worker that joins: `--user`/`--password` (or a terminal's answers) log in, or
 * register with the token's invite when the account does not exist; with neither, this machine's
 * own account (`machineAccount`). Returns credentials the worker logs in again with.
 */
export async function workerAccount(j: Joined): Promise<Credentials> {
  const c = j.s.config
  const given = c.user !== undefined || c.password !== undefined || process.stdin.isTTY === true
  if (!given) return machineAccount(j)
  const creds = await credentials(c)
  await loginOrRegister(j, creds)
  return creds
}
