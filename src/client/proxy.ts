import { isIP } from './ip'
import { GridError } from '../errors'

/** A parsed proxy URL: what Bun connects through, and what messages may show. */
export interface ProxyUrl {
  /** The full URL Bun is given, credentials included: never print it. */
  href: string
  /** For messages: the URL with the password replaced by `***`. */
  shown: string
  host: string
  port: number
  /** The variable it came from, e.g. `HTTPS_PROXY`. */
  from: string
  /** True when the URL carries a user name (Bun sends it as `Proxy-Authorization: Basic`). */
  hasAuth: boolean
}

/** One NO_PROXY entry: a domain (and its subdomains), an IP, or a CIDR range; optionally one port. */
type NoProxyRule =
  | { kind: 'domain'; name: string; port?: number; text: string }
  | { kind: 'cidr'; bytes: Uint8Array; bits: number; port?: number; text: string }

/** A parsed NO_PROXY list. */
export interface NoProxy {
  /** `*`: no host goes through a proxy. */
  all: boolean
  rules: NoProxyRule[]
  /** Entries that are no host, IP or CIDR (e.g. Windows' `<local>`): skipped, shown by doctor. */
  ignored: string[]
  /** The variable it came from. */
  from: string | undefined
}

/** The proxy variables of this process, parsed (built by config from the environment). */
export interface ProxySettings {
  /** For https and wss targets (`https_proxy`, `HTTPS_PROXY`, then `all_proxy`, `ALL_PROXY`). */
  https: ProxyUrl | undefined
  /** For http and ws targets (`http_proxy`, `HTTP_PROXY`, then `all_proxy`, `ALL_PROXY`). */
  http: ProxyUrl | undefined
  noProxy: NoProxy
  /** Proxy loopback targets too (tests whose proxy and coordinator share 127.0.0.1). */
  loopback?: boolean
  /** A proxy variable that cannot be used: every connection fails with it (not commands that connect nowhere). */
  problem?: GridError | undefined
}

/** How one connection goes: through a proxy, or direct and why. */
export type Route =
  | { kind: 'proxy'; proxy: ProxyUrl }
  /** `unset`: the proxy variable for this target that is not set (a timeout may mean it is needed). */
  | { kind: 'direct'; why: string; unset?: 'HTTPS_PROXY' | 'HTTP_PROXY' }

/** No proxy variables at all. */
export const NO_PROXY_SETTINGS: ProxySettings = Object.freeze({
  https: undefined,
  http: undefined,
  noProxy: { all: false, rules: [], ignored: [], from: undefined },
})

const MAX_VALUE = 8192

function badProxy(from: string, why: string): GridError {
  return new GridError(
    'bad_proxy',
    `${from} is not a proxy URL (${why}): use http://HOST:PORT, e.g. ${from}=http://proxy.example.org:3128 (with a login: http://USER:PASSWORD@HOST:PORT, special characters %-encoded)`,
  )
}

/**
 * Parses a proxy variable's value as curl does: `host:port` means `http://host:port`; http and
 * https proxies only; the port defaults to 80 (http) or 443 (https), as in Go and Bun.
 */
export function parseProxyUrl(value: string, from: string): ProxyUrl {
  const raw = value.trim()
  if (raw.length > MAX_VALUE) throw badProxy(from, 'it is too long')
  if (/[\s\u0000-\u001f\u007f]/.test(raw)) throw badProxy(from, 'it contains spaces or control characters')
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw badProxy(from, 'it cannot be read as a URL')
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase()
  if (scheme !== 'http' && scheme !== 'https') {
    throw badProxy(from, `Grid-X speaks to http and https proxies, not ${scheme}`)
  }
  if (!url.hostname) throw badProxy(from, 'it names no host')
  if (url.pathname !== '/' && url.pathname !== '') throw badProxy(from, 'a proxy URL has no path')
  if (url.search || url.hash) throw badProxy(from, 'a proxy URL has no query or fragment')
  try {
    decodeURIComponent(url.username)
    decodeURIComponent(url.password)
  } catch {
    throw badProxy(from, 'its user name or password has a bad %-escape')
  }
  const port = url.port ? Number(url.port) : scheme === 'https' ? 443 : 80
  if (!(port >= 1 && port <= 65535)) throw badProxy(from, 'the port must be 1-65535')
  const auth = url.username ? `${url.username}${url.password ? ':' : ''}${url.password}@` : ''
  const host = url.hostname
  const base = `${scheme}://${host}:${port}`
  return {
    href: `${scheme}://${auth}${host}:${port}`,
    shown: url.username ? `${scheme}://${url.username}${url.password ? ':***' : ''}@${host}:${port}` : base,
    host: host.replace(/^\[|\]$/g, ''),
    port,
    from,
    hasAuth: url.username !== '',
  }
}

/** Address bytes of an IPv4 or IPv6 literal; undefined when `text` is neither. */
function ipBytes(text: string): Uint8Array | undefined {
  const ip = text.replace(/^\[|\]$/g, '')
  const family = isIP(ip)
  if (family === 4) return Uint8Array.from(ip.split('.').map(Number))
  if (family !== 6) return undefined
  // Expand "::" and an embedded IPv4 tail into eight 16-bit groups.
  let groups = ip.toLowerCase().split(':')
  const tail = groups.at(-1) ?? ''
  if (tail.includes('.')) {
    const v4 = tail.split('.').map(Number)
    groups = [
      ...groups.slice(0, -1),
      ((v4[0]! << 8) | v4[1]!).toString(16),
      ((v4[2]! << 8) | v4[3]!).toString(16),
    ]
  }
  const gap = groups.indexOf('')
  if (gap >= 0) {
    const head = groups.slice(0, gap).filter((g) => g !== '')
    const rest = groups.slice(gap).filter((g) => g !== '')
    groups = [...head, ...Array<string>(8 - head.length - rest.length).fill('0'), ...rest]
  }
  const out = new Uint8Array(16)
  groups.forEach((g, i) => {
    const n = parseInt(g, 16)
    out[2 * i] = n >> 8
    out[2 * i + 1] = n & 0xff
  })
  return out
}

function inRange(addr: Uint8Array, net: Uint8Array, bits: number): boolean {
  if (addr.length !== net.length) return false
  for (let i = 0; i < bits; i++) {
    const bit = (b: Uint8Array) => (b[i >> 3]! >> (7 - (i & 7))) & 1
    if (bit(addr) !== bit(net)) return false
  }
  return true
}

const DOMAIN = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$/

function parseRule(entry: string): NoProxyRule | undefined {
  let text = entry.toLowerCase()
  let port: number | undefined
  // host:port, [v6]:port; a bare IPv6 address has several colons and no port.
  const withPort = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text)
  if (withPort) {
    port = Number(withPort[2])
    if (port < 1 || port > 65535) return undefined
    text = withPort[1]!
  }
  const slash = text.indexOf('/')
  if (slash >= 0) {
    const bytes = ipBytes(text.slice(0, slash))
    const bitsText = text.slice(slash + 1)
    const bits = Number(bitsText)
    if (!bytes || !/^\d{1,3}$/.test(bitsText) || bits > bytes.length * 8) return undefined
    return { kind: 'cidr', bytes, bits, port, text: entry }
  }
  const bytes = ipBytes(text)
  if (bytes) return { kind: 'cidr', bytes, bits: bytes.length * 8, port, text: entry }
  // curl: ".example.org" and "*.example.org" mean example.org and every name under it.
  const name = text.replace(/^\*?\./, '').replace(/\.$/, '')
  if (name.length > 253 || !DOMAIN.test(name)) return undefined
  return { kind: 'domain', name, port, text: entry }
}

/** Parses NO_PROXY as curl and Go read it: comma-separated hosts, domains, IPs, CIDRs, or `*`. */
export function parseNoProxy(value: string | undefined, from: string | undefined): NoProxy {
  const list: NoProxy = { all: false, rules: [], ignored: [], from }
  if (!value) return list
  for (const part of value.slice(0, MAX_VALUE).split(',')) {
    const entry = part.trim()
    if (!entry) continue
    if (entry === '*') {
      list.all = true
      continue
    }
    const rule = parseRule(entry)
    if (rule) list.rules.push(rule)
    else list.ignored.push(entry.slice(0, 100))
  }
  return list
}

/** The NO_PROXY entry that sends `host:port` direct, if any. */
export function noProxyMatch(list: NoProxy, host: string, port: number): string | undefined {
  if (list.all) return '*'
  const name = host
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
  const addr = ipBytes(name)
  for (const rule of list.rules) {
    if (rule.port !== undefined && rule.port !== port) continue
    if (
      rule.kind === 'cidr'
        ? addr && inRange(addr, rule.bytes, rule.bits)
        : name === rule.name || name.endsWith(`.${rule.name}`)
    ) {
      return rule.text
    }
  }
  return undefined
}

/** True for names and addresses of this machine itself, which no proxy elsewhere can reach. */
export function isLoopback(host: string): boolean {
  const name = host
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
  if (name === 'localhost' || name.endsWith('.localhost')) return true
  const addr = ipBytes(name)
  if (!addr) return false
  return addr.length === 4 ? addr[0] === 127 : inRange(addr, ipBytes('::1')!, 128)
}

/**
 * How a connection to `target` goes. Like Go's httpproxy: loopback is always direct, then
 * NO_PROXY, then the variable for the target's scheme (ws uses http's, wss https's).
 */
export function routeFor(settings: ProxySettings, target: string): Route {
  if (settings.problem) throw settings.problem
  const url = new URL(target)
  const tls = url.protocol === 'https:' || url.protocol === 'wss:'
  const port = Number(url.port) || (tls ? 443 : 80)
  const proxy = tls ? settings.https : settings.http
  const variable = tls ? 'HTTPS_PROXY' : 'HTTP_PROXY'
  if (!proxy) return { kind: 'direct', why: `no ${variable} set`, unset: variable }
  if (!settings.loopback && isLoopback(url.hostname)) {
    return { kind: 'direct', why: 'this machine (loopback is never proxied)' }
  }
  const entry = noProxyMatch(settings.noProxy, url.hostname, port)
  if (entry) return { kind: 'direct', why: `NO_PROXY: ${entry}` }
  return { kind: 'proxy', proxy }
}

/** A route in words, for doctor and logs: "via proxy http://proxy:3128" or "direct (NO_PROXY: .lan)". */
export function describeRoute(route: Route): string {
  return route.kind === 'proxy'
    ? `via proxy ${route.proxy.shown} (${route.proxy.from})`
    : `direct (${route.why})`
}

/** The `proxy` option of Bun's fetch for a route: the proxy, or `false` so Bun never reads the environment itself. */
export function fetchProxy(route: Route): { proxy: { url: string; respectNoProxy: false } | false } {
  return { proxy: route.kind === 'proxy' ? { url: route.proxy.href, respectNoProxy: false } : false }
}

/** The `proxy` option of Bun's WebSocket for a route (Bun's WebSocket reads no proxy variables). */
export function socketProxy(route: Route): { proxy?: string } {
  return route.kind === 'proxy' ? { proxy: route.proxy.href } : {}
}

/** The first variable of `names` that is set (not empty), with its name. */
function first(env: Record<string, string | undefined>, names: string[]): [string, string] | undefined {
  for (const name of names) {
    const value = env[name]?.trim()
    if (value) return [name, value]
  }
  return undefined
}

/**
 * Proxy settings from the variables curl reads (lower case first, as curl does; upper case too,
 * as Go does). `env` is given by config, the only module that reads the environment.
 */
export function proxySettings(env: Record<string, string | undefined>): ProxySettings {
  const all = ['all_proxy', 'ALL_PROXY']
  const https = first(env, ['https_proxy', 'HTTPS_PROXY', ...all])
  const http = first(env, ['http_proxy', 'HTTP_PROXY', ...all])
  const no = first(env, ['no_proxy', 'NO_PROXY'])
  const noProxy = parseNoProxy(no?.[1], no?.[0])
  try {
    return {
      https: https && parseProxyUrl(https[1], https[0]),
      http: http && parseProxyUrl(http[1], http[0]),
      noProxy,
    }
  } catch (err) {
    return { https: undefined, http: undefined, noProxy, problem: err as GridError }
  }
}
