import { networkInterfaces } from 'node:os'
import { encodeJoinToken } from '../client/join-token'
import { assertNever } from '../errors'
import type { PendingInvite } from '../coordinator/store'
import type { Coordinator } from '../coordinator/server'
import type { SignupMode } from '../protocol/api'
import type { ServerTls } from '../tls/server-cert'

/** How long the invite behind the token `gridx serve` prints stays valid. */
export const START_INVITE_MS = 24 * 3_600_000
/** Machines (accounts) the start token admits. */
export const START_INVITE_USES = 5

/**
 * The addresses a join token names, best first: `--public-url` when given; else the bound address;
 * else every address other machines may reach this one at (no name: it may not resolve there).
 */
export function joinUrls(opts: {
  publicUrl: string | undefined
  host: string
  httpPort: number
  tls: boolean
}): string[] {
  const scheme = opts.tls ? 'https' : 'http'
  const url = (h: string) => `${scheme}://${h.includes(':') ? `[${h}]` : h}:${opts.httpPort}`
  if (opts.publicUrl) return [opts.publicUrl]
  if (!['0.0.0.0', '::', ''].includes(opts.host)) return [url(opts.host)]
  const v4: string[] = []
  const v6: string[] = []
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      // Link-local IPv6 needs a zone (%eth0) that another machine's URL cannot carry.
      if (a.internal || a.address.toLowerCase().startsWith('fe80:')) continue
      ;(a.family === 'IPv4' ? v4 : v6).push(a.address)
    }
  }
  const all = [...v4, ...(opts.host === '::' ? v6 : [])].slice(0, 8)
  return all.length ? all.map(url) : [url('127.0.0.1')]
}

/** The invite the start token carries (none where sign-up needs none or admits no one). */
export function startInvite(
  mode: SignupMode,
  grantMc: number,
  code: string,
  now: number,
): PendingInvite | undefined {
  if (mode !== 'invite') return undefined
  return { code, grantMc, uses: START_INVITE_USES, expiresAt: now + START_INVITE_MS }
}

/**
 * Makes the start invite an invite of the first operator when accounts exist (it then dies with
 * their right, is listed and revocable like any); with no account yet it stays pending in the
 * settings, and the first account makes it. Undefined when there is none or it could not be made.
 */
export async function adoptStartInvite(
  c: Pick<Coordinator, 'store'>,
  invite: PendingInvite | undefined,
  note: (line: string) => void,
): Promise<PendingInvite | undefined> {
  if (!invite || !(await c.store.accounts.exist())) return invite
  const operator = (await c.store.accounts.operators())[0]
  const id = operator === undefined ? undefined : (await c.store.accounts.byName(operator))?.id
  if (id === undefined) return undefined
  try {
    await c.store.invites.create(id, { ...invite, now: Date.now() })
    return invite
  } catch (err) {
    note(
      `warning: could not make the invite of the join token (${(err as Error).message}): use 'gridx invite --worker'`,
    )
    return undefined
  }
}

/** The join lines `gridx serve` prints: what to paste on a new machine, and what the token admits. */
export function joinHints(opts: {
  urls: string[]
  tls: ServerTls | undefined
  signup: SignupMode
  hasUsers: boolean
  invite: PendingInvite | undefined
}): string[] {
  const pinned = opts.tls !== undefined && !opts.tls.publiclyTrusted
  const token = encodeJoinToken({
    urls: opts.urls,
    // A public CA's certificate needs no pin, and a pin would break at its next renewal.
    fingerprint: pinned ? opts.tls?.leaf.fingerprint256 : undefined,
    invite: opts.invite?.code,
  })
  const lines: string[] = []
  const admits = (): string => {
    const first = opts.hasUsers ? '' : 'the first account to join becomes the operator; '
    switch (opts.signup) {
      case 'invite':
        return opts.invite
          ? `${first}the token admits up to ${START_INVITE_USES} new accounts until ${new Date(opts.invite.expiresAt).toISOString()} (24 h; a new token at each start, more with 'gridx invite --worker')`
          : `${first}the token carries no invite, so it only logs in existing accounts: 'gridx invite --worker' makes one that admits`
      case 'open':
        return `${first}sign-up is open: the token admits anyone who has it until the coordinator's certificate changes`
      case 'closed':
        return opts.hasUsers
          ? 'sign-up is closed: the token only logs in existing accounts (--user NAME)'
          : 'sign-up is closed: only the first account may register with it'
      default:
        return assertNever(opts.signup)
    }
  }
  const closed = opts.signup === 'closed' && opts.hasUsers
  lines.push(`to add a machine, run this on it (${admits()}):`)
  lines.push(`  gridx work --join ${token}${closed ? ' --user NAME' : ''}`)
  lines.push(closed ? 'users log in with:' : 'users register with:')
  lines.push(`  gridx ${closed ? 'login' : 'register'} --join ${token} --user NAME`)
  if (opts.tls && pinned) {
    lines.push(
      `the token pins this certificate (SHA-256 ${opts.tls.leaf.fingerprint256}): no file to copy. ${opts.tls.selfSigned ? `It is self-signed, kept in ${opts.tls.certPath}` : `It is in ${opts.tls.certPath}`}; clients that copy a file instead pass it with --ca-cert`,
    )
  }
  return lines
}
