import { formatCredits, parseCredits } from '../protocol/credits'
import { GridError } from '../errors'
import type { HistoryLine } from '../protocol/api'
import { note, out } from './options'
import { safe } from './render'
import { loggedIn } from './session'

/** The flags yargs parses for this command. */
export type Flags = {
  coordinator?: string
  httpPort?: number
  wsPort?: number
  json?: boolean
  limit?: number
  before?: number
  all?: boolean
  audit?: boolean
  user?: string
  amount?: string
}

const signed = (mc: number) => (mc > 0 ? `+${formatCredits(mc)}` : formatCredits(mc))

function historyRows(lines: HistoryLine[]): string[] {
  const cells = [
    ['WHEN', 'WHAT', 'JOB', 'WITH', 'CREDITS', 'ACCOUNT'],
    ...lines.map((h) => [
      h.at.replace('T', ' ').slice(0, 19),
      h.kind,
      h.job ?? '-',
      safe(h.counterparty),
      signed(h.amountMc),
      h.account,
    ]),
  ]
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)))
  return cells.map((r) =>
    r
      .map((c, i) => (i === 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  )
}

/** `gridx credits`: balance, escrow and recent history; `--audit` checks the ledger (operators). */
export async function credits(flags: Flags): Promise<number> {
  const { api } = loggedIn(flags)
  if (flags.audit) {
    const a = await api.audit()
    if (flags.json) return (out(JSON.stringify(a)), a.ok ? 0 : 1)
    out(`minted     ${formatCredits(a.minted)}`)
    out(`balances   ${formatCredits(a.balances)}`)
    out(
      `escrow     ${formatCredits(a.escrow)}${a.escrowDue === undefined ? '' : ` (live jobs may cost ${formatCredits(a.escrowDue)})`}`,
    )
    out(`transfers  ${a.transfers}`)
    out(`operators  ${a.operators.join(', ') || '-'}`)
    out(
      a.ok
        ? 'ledger OK: balances + escrow = minted, escrow = what live jobs may cost, no account below zero'
        : 'LEDGER MISMATCH: balances + escrow != minted, escrow != what live jobs may cost, or an account below zero',
    )
    return a.ok ? 0 : 1
  }
  const view = await api.credits(flags.limit ?? 10)
  if (flags.json) return (out(JSON.stringify(view)), 0)
  out(
    `${view.user}: ${formatCredits(view.balanceMc)} credits available, ${formatCredits(view.escrowMc)} held in escrow`,
  )
  if (view.history.length) {
    out('')
    for (const line of historyRows(view.history)) out(line)
    if (view.next !== null) out(`(older: gridx credits history --before ${view.next})`)
  }
  return 0
}

/** `gridx credits history`: every movement, a page at a time (or `--all`). */
export async function history(flags: Flags): Promise<number> {
  const { api } = loggedIn(flags)
  let before = flags.before
  const lines: HistoryLine[] = []
  for (;;) {
    const page = await api.credits(flags.limit ?? 50, before)
    lines.push(...page.history)
    if (!flags.all || page.next === null) {
      if (flags.json) out(JSON.stringify({ history: lines, next: page.next }))
      else {
        for (const line of historyRows(lines)) out(line)
        if (page.next !== null) out(`(older: gridx credits history --before ${page.next})`)
      }
      return 0
    }
    before = page.next
  }
}

/** `gridx credits grant USER N` (operators). */
export async function grant(flags: Flags): Promise<number> {
  const amountMc = parseCredits(String(flags.amount ?? ''))
  if (!amountMc)
    throw new GridError(
      'bad_amount',
      `'${flags.amount}' is not an amount of credits: use a number such as 100 or 2.5`,
    )
  await loggedIn(flags).api.grant({ user: flags.user!, amountMc })
  note(`granted ${formatCredits(amountMc)} credits to ${flags.user}`)
  return 0
}
