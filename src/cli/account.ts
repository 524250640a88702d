import { formatCredits } from '../protocol/credits'
import { discoverSession } from './find-coordinator'
import { note, out } from './options'
import { joinSession, joinToken, registerJoined } from './join'
import {
  contextNote,
  credentials,
  loggedIn,
  loginAndSave,
  openSession,
  savedLogin,
  type Session,
} from './session'

/** The flags yargs parses for this command. */
export type Flags = {
  coordinator?: string
  httpPort?: number
  wsPort?: number
  user?: string
  password?: string
  invite?: string
  join?: string
  json?: boolean
}

/** `gridx register`: create an account (with `--invite CODE` where sign-up is by invite) and log in. */
export async function register(flags: Flags): Promise<number> {
  const token = joinToken(flags)
  const s = token ? await joinSession(token, flags) : await discoverSession(flags, 'register')
  const creds = await credentials(s.config)
  const made = token
    ? await registerJoined({ s, token }, creds)
    : await s.api.register({ ...creds, ...(s.config.invite ? { invite: s.config.invite } : {}) })
  const saved = token ? undefined : await loginAndSave(s, creds)
  note(
    `registered '${creds.user}' on ${s.api.addr.httpUrl} and logged in; you start with ${formatCredits(made.grantMc)} credits${trustNote(s)}`,
  )
  if (saved) note(contextNote(saved))
  if (made.operator)
    note("this is the coordinator's first account, so you are its operator: 'gridx invite' admits others")
  return 0
}

/** `gridx login`: log in and save the token. */
export async function login(flags: Flags): Promise<number> {
  const token = joinToken(flags)
  const s = token ? await joinSession(token, flags) : await discoverSession(flags, 'login')
  const creds = await credentials(s.config)
  const saved = await loginAndSave(s, creds)
  note(`logged in to ${s.api.addr.httpUrl} as '${creds.user}'${trustNote(s)}`)
  note(contextNote(saved))
  return 0
}

/** Says what the login remembered, so the user knows later commands need no `--ca-cert`. */
function trustNote(s: Session): string {
  const t = s.api.trust
  if (t?.pin) return `; pinned its certificate (SHA-256 ${t.pin.fingerprint}) for later commands`
  if (t?.ca) return `; ${t.ca.path} is remembered as trusted for later commands`
  return ''
}

/** `gridx logout`: revoke the token and forget it. */
export async function logout(flags: Flags): Promise<number> {
  const s = openSession(flags)
  if (savedLogin(s)) {
    await s.api.logout().catch(() => undefined)
    // The login was saved under every address of the grid: all of them are forgotten.
    for (const a of s.addrs) s.creds.remove(a.httpUrl)
  }
  const where = s.addrs.map((a) => a.httpUrl).join(', ')
  note(`logged out of ${where} (its saved login and trusted certificate are forgotten)`)
  return 0
}

/** `gridx whoami`: the account this machine is logged in as, where, and whether it is an operator. */
export async function whoami(flags: Flags): Promise<number> {
  const s = loggedIn(flags)
  const { api } = s
  const me = await api.me()
  const coordinator = api.addr.httpUrl
  const context = s.creds.activeName() ?? null
  if (flags.json) return (out(JSON.stringify({ ...me, coordinator, context })), 0)
  out(`user:        ${me.user}`)
  out(`coordinator: ${coordinator}`)
  out(`context:     ${context ?? '(none)'}`)
  out(`operator:    ${me.operator ? 'yes' : 'no'}`)
  return 0
}
