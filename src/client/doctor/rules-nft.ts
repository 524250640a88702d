import { type Action, type Chain, type Condition, renderRule, type Rule } from './rules'

// `nft -j list ruleset` is nft's own stable JSON (libnftables-json(5)); only its input-relevant
// parts are read, and anything unknown becomes an "other" condition rather than a guess.

type Json = Record<string, unknown>
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The values of a match's right side: one value, an anonymous set, or a list. */
function values(right: unknown): unknown[] {
  if (Array.isArray(right)) return right
  if (isObj(right) && Array.isArray(right['set'])) return right['set']
  return [right]
}

function portRanges(right: unknown): [number, number][] | undefined {
  const out: [number, number][] = []
  for (const v of values(right)) {
    if (typeof v === 'number') out.push([v, v])
    else if (
      isObj(v) &&
      Array.isArray(v['range']) &&
      typeof v['range'][0] === 'number' &&
      typeof v['range'][1] === 'number'
    )
      out.push([v['range'][0], v['range'][1]])
    else return undefined
  }
  return out
}

const strings = (right: unknown) => {
  const list = values(right)
  return list.every((v) => typeof v === 'string') ? list : undefined
}

/** One `match` expression as a condition (or two: `tcp dport` also says the protocol). */
function condition(m: Json): Condition[] {
  const op = m['op']
  const negate = op === '!='
  const left = m['left']
  const right = m['right']
  const other: Condition[] = [{ kind: 'other', text: JSON.stringify(m) }]
  if ((op !== '==' && op !== '!=' && op !== 'in') || !isObj(left)) return other
  const meta = isObj(left['meta']) ? left['meta']['key'] : undefined
  const payload = isObj(left['payload']) ? left['payload'] : undefined
  const ct = isObj(left['ct']) ? left['ct']['key'] : undefined
  if (meta === 'iifname' || meta === 'iif') {
    const names = strings(right)
    return names ? [{ kind: 'iif', names, negate }] : other
  }
  if (
    meta === 'l4proto' ||
    (payload && payload['field'] === 'protocol') ||
    (payload && payload['field'] === 'nexthdr')
  ) {
    const protos = values(right).map(String)
    return [{ kind: 'proto', protos, negate }]
  }
  if (meta === 'nfproto' && !negate) {
    const v = strings(right)
    if (v?.length === 1 && (v[0] === 'ipv4' || v[0] === 'ipv6'))
      return [{ kind: 'family', family: v[0] === 'ipv4' ? 4 : 6 }]
    return other
  }
  if (payload && payload['field'] === 'dport' && typeof payload['protocol'] === 'string') {
    const ranges = portRanges(right)
    if (!ranges) return other
    const proto: Condition = { kind: 'proto', protos: [payload['protocol']], negate: false }
    return [proto, { kind: 'dport', ranges, negate }]
  }
  if (ct === 'state') {
    const states = strings(right)
    return states ? [{ kind: 'ctstate', states, negate }] : other
  }
  return other
}

function verdict(e: Json): Action | undefined {
  if ('accept' in e) return { kind: 'accept' }
  if ('drop' in e) return { kind: 'drop' }
  if ('reject' in e) return { kind: 'reject' }
  if ('return' in e) return { kind: 'return' }
  for (const kind of ['jump', 'goto'] as const) {
    const t = e[kind]
    if (isObj(t) && typeof t['target'] === 'string') return { kind, target: t['target'] }
  }
  return undefined
}

/** Statements that neither match nor decide (counters, logs, comments). */
const PASSIVE = new Set(['counter', 'log', 'comment', 'notrack', 'meta', 'mangle'])

/** The chains and rules of `nft -j list ruleset`, skipping the tables `skip` says another reader covers. */
export function parseNft(
  text: string,
  skip: (family: string, table: string) => boolean = () => false,
): Chain[] {
  const doc = JSON.parse(text) as unknown
  const items = isObj(doc) && Array.isArray(doc['nftables']) ? (doc['nftables'] as unknown[]) : []
  const chains: Chain[] = []
  const find = (family: string, table: string, name: string) =>
    chains.find((c) => c.family === family && c.table === table && c.name === name)
  for (const item of items) {
    if (!isObj(item)) continue
    const c = item['chain']
    if (
      isObj(c) &&
      typeof c['family'] === 'string' &&
      typeof c['table'] === 'string' &&
      typeof c['name'] === 'string'
    ) {
      if (skip(c['family'], c['table'])) continue
      chains.push({
        source: 'nft',
        family: c['family'],
        table: c['table'],
        name: c['name'],
        hook: typeof c['hook'] === 'string' ? c['hook'] : undefined,
        priority: typeof c['prio'] === 'number' ? c['prio'] : 0,
        policy: c['policy'] === 'drop' ? 'drop' : c['policy'] === 'accept' ? 'accept' : undefined,
        rules: [],
      })
    }
    const r = item['rule']
    if (
      !isObj(r) ||
      typeof r['family'] !== 'string' ||
      typeof r['table'] !== 'string' ||
      typeof r['chain'] !== 'string'
    )
      continue
    const chain = find(r['family'], r['table'], r['chain'])
    if (!chain) continue
    const conditions: Condition[] = []
    let action: Action = { kind: 'continue' }
    for (const e of Array.isArray(r['expr']) ? (r['expr'] as unknown[]) : []) {
      if (!isObj(e)) continue
      if (isObj(e['match'])) conditions.push(...condition(e['match']))
      else if (verdict(e)) action = verdict(e) ?? action
      else if (isObj(e['xt']) && e['xt']['type'] === 'target') {
        // iptables-nft's targets nft cannot show (REJECT with its options, LOG, ...).
        const name = String(e['xt']['name'])
        action = name === 'REJECT' ? { kind: 'reject' } : { kind: 'continue' }
      } else if (!Object.keys(e).every((k) => PASSIVE.has(k))) {
        conditions.push({ kind: 'other', text: Object.keys(e).join(' ') })
      }
    }
    const rule: Rule = {
      source: 'nft',
      family: chain.family,
      table: chain.table,
      chain: chain.name,
      conditions,
      action,
      text: renderRule(conditions, action),
      remove: `sudo nft delete rule ${chain.family} ${chain.table} ${chain.name} handle ${String(r['handle'])}`,
    }
    chain.rules.push(rule)
  }
  return chains
}
