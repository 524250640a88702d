/**
 * A firewall's input rules as the doctor understands them, read from nftables (`nft -j list
 * ruleset`) or iptables (`iptables-save`, either backend), and what they do to one new TCP
 * connection: the first rule that surely matches decides, as the kernel would. A condition the
 * doctor cannot judge (a source address, a rate limit, a match iptables-nft hides from nft) makes
 * a rule "maybe": a maybe-drop is still reported, and never mistaken for a sure one.
 */

/** One condition of a rule; `negate` is `!=` (nft) or `!` (iptables). */
export type Condition =
  | { kind: 'iif'; names: string[]; negate: boolean }
  | { kind: 'proto'; protos: string[]; negate: boolean }
  | { kind: 'dport'; ranges: [number, number][]; negate: boolean }
  | { kind: 'ctstate'; states: string[]; negate: boolean }
  | { kind: 'family'; family: 4 | 6 }
  /** Anything else (a source address, a limit, an iptables-nft `xt` match): it may or may not match. */
  | { kind: 'other'; text: string }

/** What a rule does when it matches. */
export type Action =
  { kind: 'accept' | 'drop' | 'reject' | 'return' | 'continue' } | { kind: 'jump' | 'goto'; target: string }

/** Where rules came from, for messages and for the command that removes one. */
export type RuleSource = 'nft' | 'iptables-nft' | 'iptables-legacy' | 'ip6tables-nft' | 'ip6tables-legacy'

/** One rule of one chain. */
export interface Rule {
  source: RuleSource
  /** nft family (ip, ip6, inet) of its table; iptables rules are ip or ip6. */
  family: string
  table: string
  chain: string
  conditions: Condition[]
  action: Action
  /** The rule as its tool prints it (iptables-save's line, or an nft-like rendering). */
  text: string
  /** The exact command that deletes it. */
  remove: string
}

/** A chain; base chains have a hook and a policy. */
export interface Chain {
  source: RuleSource
  family: string
  table: string
  name: string
  hook?: string | undefined
  priority: number
  policy?: 'accept' | 'drop' | undefined
  rules: Rule[]
}

/** A new incoming TCP connection, as the rules see it. */
export interface Packet {
  family: 4 | 6
  iif: string
  port: number
}

/** What the rules do to a packet: the rule (or policy) that drops it, sure or maybe. */
export type Outcome =
  { kind: 'accepted' } | { kind: 'dropped'; rule: Rule | undefined; chain: Chain; sure: boolean }

type Match = 'yes' | 'no' | 'maybe'

const nameMatches = (pattern: string, iif: string) =>
  pattern.endsWith('+') || pattern.endsWith('*') ? iif.startsWith(pattern.slice(0, -1)) : pattern === iif

function test(c: Condition, p: Packet): Match {
  const flip = (hit: boolean): Match => (('negate' in c && c.negate ? !hit : hit) ? 'yes' : 'no')
  switch (c.kind) {
    case 'iif':
      return flip(c.names.some((n) => nameMatches(n, p.iif)))
    case 'proto':
      return flip(c.protos.includes('tcp') || c.protos.includes('6'))
    case 'dport':
      return flip(c.ranges.some(([lo, hi]) => p.port >= lo && p.port <= hi))
    case 'ctstate':
      return flip(c.states.includes('new'))
    case 'family':
      return c.family === p.family ? 'yes' : 'no'
    case 'other':
      return 'maybe'
  }
}

function matches(rule: Rule, p: Packet): Match {
  let result: Match = 'yes'
  for (const c of rule.conditions) {
    const m = test(c, p)
    if (m === 'no') return 'no'
    if (m === 'maybe') result = 'maybe'
  }
  return result
}

type Walk = { end: 'accept' } | { end: 'drop'; rule: Rule } | { end: 'fall' } | { end: 'return' }

/** Walks one chain (and the chains it jumps to) for a packet; `maybe` collects the maybe-drops. */
function walk(chain: Chain, all: Chain[], p: Packet, maybe: Rule[], depth: number): Walk {
  if (depth > 16) return { end: 'fall' }
  for (const rule of chain.rules) {
    const m = matches(rule, p)
    if (m === 'no') continue
    const a = rule.action
    if (m === 'maybe') {
      if (a.kind === 'drop' || a.kind === 'reject') maybe.push(rule)
      continue
    }
    switch (a.kind) {
      case 'accept':
        return { end: 'accept' }
      case 'drop':
      case 'reject':
        return { end: 'drop', rule }
      case 'return':
        return { end: 'return' }
      case 'continue':
        continue
      case 'jump':
      case 'goto': {
        const target = all.find(
          (c) =>
            c.source === chain.source &&
            c.family === chain.family &&
            c.table === chain.table &&
            c.name === a.target,
        )
        if (!target) continue
        const r = walk(target, all, p, maybe, depth + 1)
        if (r.end === 'accept' || r.end === 'drop') return r
        // A goto does not come back: what the target leaves undecided ends this chain too.
        if (a.kind === 'goto') return { end: 'return' }
      }
    }
  }
  return { end: 'fall' }
}

const familyHas = (family: string, p: Packet) =>
  family === 'inet' || (p.family === 4 ? family === 'ip' : family === 'ip6')

/**
 * What the input chains do to a new TCP connection: every base chain on the input hook of the
 * packet's family must let it through. Returns the first sure drop, else the first maybe-drop.
 */
export function judge(chains: Chain[], p: Packet): Outcome {
  const maybe: { rule: Rule; chain: Chain }[] = []
  const bases = chains
    .filter((c) => c.hook === 'input' && familyHas(c.family, p))
    .sort((a, b) => a.priority - b.priority)
  for (const chain of bases) {
    const found: Rule[] = []
    const r = walk(chain, chains, p, found, 0)
    maybe.push(...found.map((rule) => ({ rule, chain })))
    if (r.end === 'drop') return { kind: 'dropped', rule: r.rule, chain, sure: true }
    if (r.end !== 'accept' && chain.policy === 'drop')
      return { kind: 'dropped', rule: undefined, chain, sure: true }
  }
  const first = maybe[0]
  return first ? { kind: 'dropped', rule: first.rule, chain: first.chain, sure: false } : { kind: 'accepted' }
}

/** An nft-style rendering of conditions and action, for rules nft printed as JSON. */
export function renderRule(conditions: Condition[], action: Action): string {
  const ranges = (r: [number, number][]) => {
    const list = r.map(([lo, hi]) => (lo === hi ? String(lo) : `${lo}-${hi}`))
    return list.length === 1 ? list[0] : `{ ${list.join(', ')} }`
  }
  // `tcp dport` says the protocol already.
  const hasPort = conditions.some((c) => c.kind === 'dport')
  const shown = conditions.filter(
    (c) => !(hasPort && c.kind === 'proto' && !c.negate && c.protos.join() === 'tcp'),
  )
  const parts = shown.map((c) => {
    const not = 'negate' in c && c.negate ? '!= ' : ''
    switch (c.kind) {
      case 'iif':
        return `iifname ${not}${c.names.map((n) => `"${n}"`).join(', ')}`
      case 'proto':
        return `meta l4proto ${not}${c.protos.join(', ')}`
      case 'dport':
        return `tcp dport ${not}${ranges(c.ranges)}`
      case 'ctstate':
        return `ct state ${not}${c.states.join(',')}`
      case 'family':
        return `meta nfproto ipv${c.family}`
      case 'other':
        return c.text
    }
  })
  const verb =
    action.kind === 'jump' || action.kind === 'goto' ? `${action.kind} ${action.target}` : action.kind
  return [...parts, action.kind === 'continue' ? '' : verb].filter(Boolean).join(' ')
}
