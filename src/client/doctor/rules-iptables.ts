import type { Action, Chain, Condition, Rule, RuleSource } from './rules'

// iptables-save's text: `*filter`, `:INPUT DROP [0:0]`, `-A INPUT -i eth0 -p tcp --dport 8081 -j DROP`.
// Only the filter table decides what comes in; the built-in INPUT chain is its input hook.

/** Splits a line into words, keeping "quoted strings" (comments) whole. */
function words(line: string): string[] {
  return [...line.matchAll(/"((?:\\.|[^"])*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '')
}

function ports(spec: string): [number, number][] | undefined {
  const out: [number, number][] = []
  for (const part of spec.split(',')) {
    const [lo, hi] = part.split(':').map(Number)
    if (lo === undefined || !Number.isInteger(lo)) return undefined
    out.push([lo, hi !== undefined && Number.isInteger(hi) ? hi : lo])
  }
  return out
}

/** One `-A CHAIN ...` line as conditions and an action. */
function rule(argv: string[]): { chain: string; conditions: Condition[]; action: Action } {
  const conditions: Condition[] = []
  let action: Action = { kind: 'continue' }
  let chain = ''
  let negate = false
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i] ?? ''
    const next = () => argv[++i] ?? ''
    if (w === '!') {
      negate = true
      continue
    }
    switch (w) {
      case '-A':
        chain = next()
        break
      case '-i':
        conditions.push({ kind: 'iif', names: [next()], negate })
        break
      case '-p':
        conditions.push({ kind: 'proto', protos: [next()], negate })
        break
      case '--dport':
      case '--dports':
      case '--destination-port':
      case '--destination-ports': {
        const spec = next()
        const r = ports(spec)
        conditions.push(r ? { kind: 'dport', ranges: r, negate } : { kind: 'other', text: `${w} ${spec}` })
        break
      }
      case '--ctstate':
      case '--state':
        conditions.push({ kind: 'ctstate', states: next().toLowerCase().split(','), negate })
        break
      case '-m':
        // The match modules (tcp, multiport, conntrack, comment) add nothing by themselves.
        next()
        break
      case '--comment':
      case '--reject-with':
        next()
        break
      case '-j':
      case '-g': {
        const t = next()
        const kind = w === '-g' ? 'goto' : 'jump'
        const verdicts: Record<string, Action> = {
          ACCEPT: { kind: 'accept' },
          DROP: { kind: 'drop' },
          REJECT: { kind: 'reject' },
          RETURN: { kind: 'return' },
        }
        // Any other target is a chain to walk (LOG and the like name none, so they pass).
        action = Object.hasOwn(verdicts, t) ? (verdicts[t] ?? action) : { kind, target: t }
        break
      }
      default:
        // A source, an output interface, a limit...: decided by what the doctor cannot see.
        if (w.startsWith('-'))
          conditions.push({ kind: 'other', text: `${negate ? '! ' : ''}${w} ${argv[i + 1] ?? ''}` })
        if (w.startsWith('-') && !(argv[i + 1] ?? '-').startsWith('-')) i++
    }
    negate = false
  }
  return { chain, conditions, action }
}

/** The filter table's chains from `iptables-save` (or ip6tables-save) output. */
export function parseIptablesSave(text: string, source: RuleSource): Chain[] {
  const family = source.startsWith('ip6') ? 'ip6' : 'ip'
  const tool = source
  const chains: Chain[] = []
  let table = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line.startsWith('*')) table = line.slice(1)
    if (table !== 'filter') continue
    const head = /^:(\S+) (\S+)/.exec(line)
    if (head) {
      const [, name = '', policy] = head
      chains.push({
        source,
        family,
        table,
        name,
        hook: name === 'INPUT' ? 'input' : undefined,
        priority: 0,
        policy: policy === 'DROP' ? 'drop' : policy === 'ACCEPT' ? 'accept' : undefined,
        rules: [],
      })
      continue
    }
    if (!line.startsWith('-A ')) continue
    const parsed = rule(words(line))
    const chain = chains.find((c) => c.name === parsed.chain)
    if (!chain) continue
    const r: Rule = {
      source,
      family,
      table,
      chain: chain.name,
      conditions: parsed.conditions,
      action: parsed.action,
      text: line,
      remove: `sudo ${tool} -D ${line.slice(3)}`,
    }
    chain.rules.push(r)
  }
  return chains
}
