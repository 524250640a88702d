import { createServer } from 'node:net'
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os'
import { Health } from '../../protocol/api'
import { type CheckResult, fail, ok, warn } from '../../protocol/doctor'
import { checkFirewalls, detectFirewalls, type FoundFirewall } from './firewall'
import { type Arrival, checkRules } from './firewall-rules'
import { portHolder, type PortHolder } from './holder'
import { probeHttp } from './http'
import { probeTcp } from './probes'
import { HTTP_ROLE, type PortRole, WS_ROLE } from './reach'
import { judge } from './rules'
import { readRules, type RuleSet } from './rules-read'
import { silentPort } from './silent-port'

/** What the coordinator-host checks need: the address and ports `gridx serve` would use. */
export interface ServeCheckOptions {
  host: string
  httpPort: number
  wsPort: number
  timeoutMs: number
  /** This machine's interfaces (os.networkInterfaces()). */
  interfaces?: NodeJS.Dict<NetworkInterfaceInfo[]>
  /** Firewall tools on this machine (detectFirewalls()). */
  firewalls?: FoundFirewall[]
  /** The firewall's rules (readRules(): readable as root). */
  rules?: RuleSet
  /** Who holds a local port (portHolder(), from /proc). */
  holder?: (port: number) => PortHolder | undefined
}

/** The options with the machine's own facts filled in, each read once. */
type Facts = ServeCheckOptions & { ruleSet: () => RuleSet }

/** How one port stands: free, held by a running coordinator, or a failed check. */
type PortState = { kind: 'free' } | { kind: 'gridx'; version: string } | { kind: 'bad'; result: CheckResult }

const isLoopback = (host: string) =>
  host === 'localhost' || host === '::1' || host.startsWith('127.') || host === '[::1]'
const isWildcard = (host: string) => host === '0.0.0.0' || host === '::' || host === ''

/** Tries to listen on host:port, then lets go at once. */
function tryListen(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)))
  })
}

/** What answers on a local port: a gridx coordinator, something else, or nothing at all (silence). */
type Answer = { kind: 'gridx'; version: string } | { kind: 'other' } | { kind: 'silent' }

/** Asks whatever holds a local port, at each address it may be bound to, whether it is a Grid-X coordinator. */
async function gridxOn(o: ServeCheckOptions, port: number): Promise<Answer> {
  const addresses = isWildcard(o.host)
    ? ['127.0.0.1', ...externalAddresses(o.interfaces ?? networkInterfaces()).map((a) => a.address)]
    : [o.host]
  let silent = true
  for (const address of addresses) {
    for (const scheme of ['http', 'https']) {
      const r = await probeHttp(`${scheme}://${hostPart(address)}:${port}/health`, {
        ca: undefined,
        timeoutMs: o.timeoutMs,
        insecure: true,
      })
      // Dropped packets time out for either scheme alike: one wait per address is enough.
      if (r.kind === 'timeout') break
      silent = false
      if (r.kind !== 'reply') continue
      const h = Health.safeParse(r.json)
      return h.success ? { kind: 'gridx', version: h.data.version } : { kind: 'other' }
    }
  }
  return silent ? { kind: 'silent' } : { kind: 'other' }
}

async function portState(o: Facts, port: number, role: PortRole, other: number): Promise<PortState> {
  if (port === 0) return { kind: 'free' }
  if (role === WS_ROLE && port === other) {
    return {
      kind: 'bad',
      result: fail(
        role.check,
        `${HTTP_ROLE.flag} and ${WS_ROLE.flag} are both ${port}; 'gridx serve' listens on each separately`,
        `give the worker socket its own port with ${WS_ROLE.flag} or ${WS_ROLE.env} (8080 by default); the API port accepts the WebSocket upgrade too`,
      ),
    }
  }
  const code = await tryListen(o.host, port)
  if (code === undefined) return { kind: 'free' }
  const change = `${role.flag} P or ${role.env}=P`
  switch (code) {
    case 'EADDRINUSE': {
      const answer = await gridxOn(o, port)
      if (answer.kind === 'gridx') return { kind: 'gridx', version: answer.version }
      const holder = (o.holder ?? portHolder)(port)
      if (answer.kind === 'silent') {
        return {
          kind: 'bad',
          result: silentPort({
            port,
            host: o.host,
            role,
            holder,
            rules: o.ruleSet(),
            timeoutMs: o.timeoutMs,
          }),
        }
      }
      const who = holder?.pid ? `pid ${holder.pid}: ${holder.command || 'command unknown'}; ` : ''
      return {
        kind: 'bad',
        result: fail(
          role.check,
          `port ${port} on ${o.host} (${role.what}) is taken by another program, not by gridx`,
          `stop it (${who}find it with 'sudo ss -ltnp "sport = :${port}"'), or give gridx another port: ${change}`,
        ),
      }
    }
    case 'EACCES':
      return {
        kind: 'bad',
        result: fail(
          role.check,
          `not allowed to listen on port ${port} (below 1024 needs root)`,
          `use a port above 1023: ${change}`,
        ),
      }
    case 'EADDRNOTAVAIL':
      return {
        kind: 'bad',
        result: fail(
          role.check,
          `${o.host} is not an address of this machine`,
          `use --host 0.0.0.0 (all interfaces) or one of this machine's addresses (see addresses)`,
        ),
      }
    default:
      return {
        kind: 'bad',
        result: fail(
          role.check,
          `cannot listen on ${o.host}:${port}: ${code}`,
          `pick another port: ${change}`,
        ),
      }
  }
}

function portResult(state: PortState, port: number, role: PortRole, host: string): CheckResult {
  switch (state.kind) {
    case 'free':
      return ok(
        role.check,
        port === 0
          ? `port 0: 'gridx serve' picks a free port for ${role.what} at start`
          : `port ${port} (${role.what}) is free on ${host}`,
      )
    case 'gridx':
      return ok(role.check, `port ${port} (${role.what}) is already served by gridx ${state.version}`)
    case 'bad':
      return state.result
  }
}

/** This machine's addresses other machines may use, with their interface names. */
function externalAddresses(
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>,
): { name: string; address: string }[] {
  return Object.entries(interfaces).flatMap(([name, list]) =>
    (list ?? [])
      .filter((i) => !i.internal && !i.address.startsWith('fe80:'))
      .map((i) => ({ name, address: i.address })),
  )
}

const hostPart = (address: string) => (address.includes(':') ? `[${address}]` : address)
const url = (address: string, port: number) => `http://${hostPart(address)}:${port}`

/** Where other machines can reach this coordinator, and a warning when only this machine can. */
async function checkAddresses(o: Facts, running: boolean): Promise<CheckResult> {
  const external = externalAddresses(o.interfaces ?? networkInterfaces())
  const port = o.httpPort
  const listed = (list: { name: string; address: string }[]) =>
    list.map((a) => `${url(a.address, port)} (${a.name})`).join(', ')
  const rebind = `serve on all interfaces: 'gridx serve --host 0.0.0.0' (the default), then open the ports (see firewall)`
  if (running) {
    // A coordinator already runs: ask each address whether it answers there.
    const reach = await Promise.all(
      external.map(async (a) => ({ a, r: await probeTcp(a.address, port, o.timeoutMs) })),
    )
    const open = reach.filter((x) => x.r.kind === 'open').map((x) => x.a)
    if (external.length > 0 && open.length === 0) {
      return warn(
        'addresses',
        `the running coordinator answers on this machine but not on ${external.map((a) => a.address).join(', ')}: it is bound to 127.0.0.1 (loopback) only, so other machines cannot reach it`,
        rebind,
      )
    }
    // A probe from this machine arrives on lo, past any rule for the interface it names.
    const rules = o.ruleSet()
    const family = (address: string) => (address.includes(':') ? 6 : 4)
    const blocked = open.filter(
      (a) => judge(rules.chains, { family: family(a.address), iif: a.name, port }).kind === 'dropped',
    )
    if (blocked.length > 0) {
      return warn(
        'addresses',
        `the running coordinator answers at ${listed(open)} from this machine, but the firewall drops what other machines send it on ${[...new Set(blocked.map((a) => a.name))].join(', ')} (see firewall)`,
        'let the port in on that interface (see firewall)',
      )
    }
    if (open.length > 0)
      return ok('addresses', `other machines reach the running coordinator at ${listed(open)}`)
  }
  if (isLoopback(o.host)) {
    return warn(
      'addresses',
      `bound to ${o.host} only (loopback): other machines cannot reach this coordinator`,
      rebind,
    )
  }
  if (external.length === 0) {
    return warn(
      'addresses',
      'this machine has no network address besides loopback: only it can reach the coordinator',
      'connect it to the network the workers are on',
    )
  }
  if (isWildcard(o.host)) {
    return ok(
      'addresses',
      `other machines reach this coordinator at ${listed(external)}; workers use --coordinator ADDRESS`,
    )
  }
  const mine = external.filter((a) => a.address === o.host)
  return ok(
    'addresses',
    `bound to ${o.host} only${mine.length ? ` (${mine[0]?.name})` : ''}: ${url(o.host, port)}`,
  )
}

/** Checks the coordinator's own host: both ports, the addresses it is reachable on, firewall hints. */
export async function checkServeHost(options: ServeCheckOptions): Promise<CheckResult[]> {
  let rules = options.rules
  const o: Facts = { ...options, ruleSet: () => (rules ??= readRules()) }
  const http = await portState(o, o.httpPort, HTTP_ROLE, o.wsPort)
  const ws = await portState(o, o.wsPort, WS_ROLE, o.httpPort)
  const results = [
    portResult(http, o.httpPort, HTTP_ROLE, o.host),
    portResult(ws, o.wsPort, WS_ROLE, o.host),
    await checkAddresses(o, http.kind === 'gridx'),
  ]
  if (isLoopback(o.host) && http.kind !== 'gridx') return results
  const ports = [o.httpPort, o.wsPort]
  // As root the rules themselves say what comes in, on each interface; otherwise, per-tool hints.
  const read = o.ruleSet()
  if (read.read.length > 0) return [...results, ...checkRules(read, ports, arrivals(o))]
  return [...results, ...checkFirewalls(o.firewalls ?? detectFirewalls(), ports, read.denied)]
}

/** The interfaces other machines' connections arrive on (and lo, where this machine's own do). */
function arrivals(o: ServeCheckOptions): Arrival[] {
  const list = Object.entries(o.interfaces ?? networkInterfaces()).flatMap(([iif, infos]) =>
    (infos ?? [])
      .filter((i) => !i.address.startsWith('fe80:'))
      .map((i): Arrival => ({ iif: i.internal ? 'lo' : iif, family: i.family === 'IPv6' ? 6 : 4 })),
  )
  const unique = new Map(list.map((a) => [`${a.iif} ${a.family}`, a]))
  if (![...unique.values()].some((a) => a.iif === 'lo')) unique.set('lo 4', { iif: 'lo', family: 4 })
  return [...unique.values()]
}
