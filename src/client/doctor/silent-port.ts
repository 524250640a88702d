import { type CheckResult, fail } from '../../protocol/doctor'
import { allowCommand } from './firewall'
import { dropFix, dropReason } from './firewall-rules'
import type { PortHolder } from './holder'
import type { PortRole } from './reach'
import { judge } from './rules'
import type { RuleSet } from './rules-read'

/** What the doctor knows about a local port that is taken but answers nothing. */
export interface SilentPort {
  port: number
  host: string
  role: PortRole
  holder: PortHolder | undefined
  rules: RuleSet
  timeoutMs: number
}

function holderText(h: PortHolder | undefined): string {
  if (!h) return 'a program'
  if (h.gridx) return `gridx (pid ${h.pid})`
  if (h.pid) return `another program (pid ${h.pid}: ${h.command || 'command unknown'})`
  return `a program of uid ${h.uid} (only root sees which)`
}

/**
 * A port that is taken but where a connection from this machine gets no answer at all: the
 * packets are dropped (a firewall rule, which on lo catches this machine's own probe) or the
 * program holding it is stuck. Says which, naming the rule when the rules can be read.
 */
export function silentPort(s: SilentPort): CheckResult {
  const { port, role } = s
  const held = `port ${port} on ${s.host} (${role.what}) is held by ${holderText(s.holder)}`
  const outcome = judge(s.rules.chains, { family: 4, iif: 'lo', port })
  const reason = dropReason(outcome)
  if (reason) {
    return fail(
      role.check,
      `${held}, but a firewall drops connections to it: TCP ${port} arriving on lo ${reason}`,
      dropFix(outcome, port),
    )
  }
  const silence = `${held}, but it does not answer within ${s.timeoutMs} ms`
  if (s.rules.read.length === 0) {
    const why = s.rules.denied
      ? "reading the firewall rules needs root: run 'sudo gridx doctor --serve' to name the rule"
      : 'no firewall rules could be read here'
    return fail(
      role.check,
      `${silence}: typically a firewall rule that drops connections to the port (${why}), or a program that is stuck`,
      `allow the port (e.g. ${allowCommand('iptables', [port])}), or restart the program holding it`,
    )
  }
  return fail(
    role.check,
    `${silence}, and no firewall rule (read with ${s.rules.read.join(', ')}) drops it: the program holding it is stuck`,
    s.holder?.gridx
      ? `restart that gridx (pid ${s.holder.pid})`
      : `find it with 'sudo ss -ltnp "sport = :${port}"' and restart or stop it`,
  )
}
