import { lookup } from 'node:dns/promises'
import { isIP } from './ip'
import { GridError } from '../errors'
import { type CoordinatorAddress, parseCoordinator } from './address'

/** Most addresses one `--coordinator` list may name: a grid's coordinators, not a scan. */
export const MAX_COORDINATORS = 16

/**
 * Parses `--coordinator a.lab,b.lab:9000,https://c.lab`: each element as `parseCoordinator`
 * reads one address, in the given order, without repeats. A bad element is named with its
 * place in the list, so a long list does not leave the user guessing which one is wrong.
 */
export function parseCoordinatorList(
  input: string,
  ports: { httpPort: number; wsPort: number },
): CoordinatorAddress[] {
  const parts = input.split(',')
  if (parts.length === 1) return [parseCoordinator(input, ports)]
  if (parts.length > MAX_COORDINATORS) {
    throw new GridError(
      'bad_coordinator',
      `--coordinator names ${parts.length} addresses; at most ${MAX_COORDINATORS} are allowed: list the grid's coordinators (or one name that resolves to several)`,
    )
  }
  const seen = new Set<string>()
  const addrs: CoordinatorAddress[] = []
  parts.forEach((part, i) => {
    let addr: CoordinatorAddress
    try {
      addr = parseCoordinator(part, ports)
    } catch (err) {
      if (!(err instanceof GridError)) throw err
      const why = part.trim() === '' ? ' (an empty element: remove the extra comma)' : ''
      throw new GridError(err.code, `address ${i + 1} of ${parts.length} in '${input}'${why}: ${err.message}`)
    }
    if (seen.has(addr.httpUrl)) return
    seen.add(addr.httpUrl)
    addrs.push(addr)
  })
  return addrs
}

/** The list as a user gives it back to `--coordinator` (what the login saves). */
export function listInput(addrs: readonly CoordinatorAddress[]): string {
  return addrs.map((a) => a.input.trim()).join(',')
}

/** Resolves a host name to all its addresses (both families); replaceable in tests. */
export type Resolver = (host: string) => Promise<string[]>

const systemResolver: Resolver = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((r) => r.address)

/**
 * A name with several A/AAAA records counts as several coordinators: each record becomes an
 * address of its own, tried in turn. The URL names the IP (so a failover really goes elsewhere,
 * not wherever the resolver points next) while `host` keeps the name, for TLS: SNI and the
 * certificate check use it (`tlsServerName`). A name that does not resolve stays as it is: the
 * connection then says so in the usual words.
 */
export async function expandNames(
  addrs: readonly CoordinatorAddress[],
  resolve: Resolver = systemResolver,
): Promise<CoordinatorAddress[]> {
  const out: CoordinatorAddress[] = []
  for (const addr of addrs) {
    const host = addr.host
    if (host.startsWith('[') || isIP(host) || host === 'localhost' || addr.serverName) {
      out.push(addr)
      continue
    }
    const ips = await resolve(host).catch(() => [])
    const unique = [...new Set(ips)]
    if (unique.length < 2) {
      out.push(addr)
      continue
    }
    for (const ip of unique.slice(0, MAX_COORDINATORS)) out.push(atIp(addr, ip))
  }
  return out
}

/** The same address reached at one IP of its name. */
function atIp(addr: CoordinatorAddress, ip: string): CoordinatorAddress {
  const shown = isIP(ip) === 6 ? `[${ip}]` : ip
  const swap = (url: string) => url.replace(`://${addr.host}:`, `://${shown}:`)
  return {
    ...addr,
    input: `${addr.input} (${ip})`,
    host: shown,
    httpUrl: swap(addr.httpUrl),
    wsUrl: swap(addr.wsUrl),
    serverName: addr.host,
  }
}
