import { GridError } from '../errors'
import { type CreateInvite, type InviteView, MAX_INVITE_MS } from '../protocol/api'
import { formatCredits, parseCredits } from '../protocol/credits'
import { parseDuration } from '../protocol/units'
import { note, out } from './options'
import { encodeJoinToken } from '../client/join-token'
import { probeCertificate } from '../client/peer'
import { joinUrls } from './serve-join'
import { loggedIn, type Session } from './session'

/** The flags yargs parses for this command. */
export type Flags = {
  coordinator?: string
  httpPort?: number
  wsPort?: number
  json?: boolean
  grant?: string
  uses?: number
  expires?: string
  list?: boolean
  revoke?: string
  worker?: boolean
}

function request(flags: Flags): CreateInvite {
  const req: CreateInvite = {}
  if (flags.grant !== undefined) {
    const mc = parseCredits(String(flags.grant))
    if (mc === undefined)
      throw new GridError(
        'bad_amount',
        `--grant '${flags.grant}' is not an amount of credits: use a number such as 100, 2.5 or 0`,
      )
    req.grantMc = mc
  }
  if (flags.uses !== undefined) {
    if (!Number.isInteger(flags.uses) || flags.uses < 1 || flags.uses > 10_000)
      throw new GridError('bad_uses', `--uses ${flags.uses} must be a whole number from 1 to 10000`)
    req.uses = flags.uses
  }
  if (flags.expires !== undefined) {
    const ms = parseDuration(flags.expires, '--expires')
    if (ms < 60_000 || ms > MAX_INVITE_MS)
      throw new GridError('bad_duration', `--expires '${flags.expires}' must be from 1m to 365d`)
    req.expiresInMs = ms
  }
  return req
}

/** The address newcomers should be told: the public one the coordinator announces, else ours. */
async function addressForNewcomers(s: Session): Promise<string> {
  const health = await s.api.health().catch(() => undefined)
  return health?.publicUrl ?? s.api.addr.httpUrl
}

const LOOPBACK = /^https?:\/\/(127\.|localhost[:/]|\[::1\])/

/**
 * A join token for an invite: the newcomers' address (this machine's interface addresses when
 * that is loopback: the coordinator runs here), and the fingerprint of a certificate that is
 * trusted here only by pin or `--ca-cert` (a public CA's needs none, and survives its renewals).
 */
async function tokenFor(s: Session, where: string, code: string): Promise<string> {
  const { addr } = s.api
  const urls = LOOPBACK.test(where)
    ? joinUrls({ publicUrl: undefined, host: '0.0.0.0', httpPort: addr.httpPort, tls: addr.tls })
    : [where]
  let fingerprint = s.api.trust?.pin?.fingerprint
  if (!fingerprint && addr.tls && s.api.trust?.ca)
    fingerprint = (await probeCertificate(addr.host, addr.httpPort))?.fingerprint
  return encodeJoinToken({ urls, fingerprint, invite: code })
}

function table(invites: InviteView[]): string[] {
  const cells = [
    ['ID', 'STATE', 'USED', 'CREDITS', 'EXPIRES', 'BY', 'ACCOUNTS'],
    ...invites.map((i) => [
      i.id,
      i.state,
      `${i.used}/${i.uses}`,
      formatCredits(i.grantMc),
      i.expiresAt.replace('T', ' ').slice(0, 16),
      i.createdBy,
      i.usedBy.join(',') || '-',
    ]),
  ]
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)))
  return cells.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  )
}

/** `gridx invite`: make an invite code for a newcomer (operators); `--list` and `--revoke ID` manage them. */
export async function invite(flags: Flags): Promise<number> {
  const s = loggedIn(flags)
  if (flags.list) {
    const all = await s.api.invites()
    if (flags.json) return (out(JSON.stringify(all)), 0)
    if (!all.length) note("no invites yet: 'gridx invite' makes one")
    else for (const line of table(all)) out(line)
    return 0
  }
  if (flags.revoke !== undefined) {
    const r = await s.api.revokeInvite(flags.revoke)
    if (flags.json) return (out(JSON.stringify(r)), 0)
    note(`revoked invite ${r.id}: it admits no one more (it admitted ${r.used} of ${r.uses})`)
    return 0
  }
  const made = await s.api.createInvite(request(flags))
  const ca = s.api.ca ? ` --ca-cert ${s.api.ca.path}` : ''
  const where = await addressForNewcomers(s)
  const token = await tokenFor(s, where, made.code)
  const join = flags.worker ? `gridx work --join ${token}` : `gridx register --join ${token} --user NAME`
  const command = `gridx register --coordinator ${where}${ca} --invite ${made.code} --user NAME`
  if (flags.json) return (out(JSON.stringify({ ...made, token, join, command })), 0)
  const uses = made.uses === 1 ? '1 account' : `${made.uses} accounts`
  note(
    `invite ${made.id}: ${formatCredits(made.grantMc)} credits each for up to ${uses}, until ${made.expiresAt}`,
  )
  note(
    `give the newcomer this line to paste on ${flags.worker ? 'the machine that is to work' : 'their machine'} (the code is shown only now; revoke it with gridx invite --revoke ${made.id}):`,
  )
  out(join)
  if (flags.worker) return 0
  note(`or, by address and code${ca ? ` (with a copy of ${s.api.ca?.path})` : ''}:`)
  out(command)
  if (LOOPBACK.test(where))
    note(
      "that address is this machine's loopback: give people on other machines the address they reach the coordinator at (the join line names this machine's other addresses)",
    )
  return 0
}
