import { type CheckResult, fail, ok, warn } from '../../protocol/doctor'
import { type Chain, judge, type Outcome, type Packet, type Rule } from './rules'
import type { RuleSet } from './rules-read'

/** An interface new connections may arrive on, with the IP family of its address. */
export interface Arrival {
  iif: string
  family: 4 | 6
}

/** Where a rule lives, in the words of its tool: "iptables-nft rule in table filter, chain INPUT". */
export function ruleWhere(rule: Rule | undefined, chain: Chain): string {
  const table = chain.source === 'nft' ? `table ${chain.family} ${chain.table}` : `table ${chain.table}`
  return rule
    ? `${rule.source} rule in ${table}, chain ${rule.chain}: '${rule.text}'`
    : `the policy of ${chain.source} ${table}, chain ${chain.name} (drop), which no rule before it overrides for this port`
}

/** One line on what drops a packet, or undefined when it gets in. */
export function dropReason(outcome: Outcome): string | undefined {
  if (outcome.kind === 'accepted') return undefined
  const where = ruleWhere(outcome.rule, outcome.chain)
  return outcome.sure
    ? `is dropped by ${where}`
    : `may be dropped by ${where} (it applies to some connections only)`
}

/** The fix for a drop: delete the rule (or, for a policy, the command that lets the port in first). */
export function dropFix(outcome: Outcome, port: number): string {
  if (outcome.kind === 'accepted') return ''
  if (outcome.rule) return `if gridx should be reachable there, delete the rule: ${outcome.rule.remove}`
  const c = outcome.chain
  return c.source === 'nft'
    ? `let the port in before the policy applies: sudo nft insert rule ${c.family} ${c.table} ${c.name} tcp dport ${port} accept`
    : `let the port in: sudo ${c.source} -I ${c.name} -p tcp --dport ${port} -j ACCEPT`
}

/**
 * What the rules (read as root) do to new connections to the coordinator's ports on each
 * interface: a rule that matches only some interfaces (`-i eth0`) is found here, where a probe
 * from this machine, which arrives on lo, would pass.
 */
export function checkRules(rules: RuleSet, ports: number[], arrivals: Arrival[]): CheckResult[] {
  const shown = [...new Set(ports.filter((p) => p > 0))]
  const results: CheckResult[] = []
  const seen = new Set<string>()
  for (const port of shown) {
    for (const a of arrivals) {
      const packet: Packet = { family: a.family, iif: a.iif, port }
      const outcome = judge(rules.chains, packet)
      if (outcome.kind === 'accepted') continue
      const key = `${port} ${outcome.rule?.remove ?? outcome.chain.name}`
      const ifaces = arrivals.filter((b) => {
        const o = judge(rules.chains, { family: b.family, iif: b.iif, port })
        return (
          o.kind === 'dropped' &&
          (o.rule?.remove ?? o.chain.name) === (outcome.rule?.remove ?? outcome.chain.name)
        )
      })
      if (seen.has(key)) continue
      seen.add(key)
      const where = [...new Set(ifaces.map((b) => b.iif))].join(', ')
      const detail = `TCP ${port} arriving on ${where} ${dropReason(outcome)}`
      results.push(
        outcome.sure
          ? fail('firewall', detail, dropFix(outcome, port))
          : warn('firewall', detail, dropFix(outcome, port)),
      )
    }
  }
  if (results.length > 0) return results
  const names = [...new Set(arrivals.map((a) => a.iif))].join(', ')
  return [
    ok(
      'firewall',
      `the input rules (read with ${rules.read.join(', ')}) let TCP ${shown.join(' and ')} in on ${names}`,
    ),
  ]
}
