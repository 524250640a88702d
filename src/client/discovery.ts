import { createSocket, type Socket } from 'node:dgram'
import { isIP } from 'node:net'
import { networkInterfaces } from 'node:os'
import {
  encodeBrowseQuery,
  type LanCoordinator,
  MAX_PACKET_BYTES,
  MDNS_GROUP,
  MDNS_PORT,
  parseAdverts,
} from '../protocol/lan'
import { type Interfaces, multicastInterfaces, onLink } from '../protocol/lan-net'

/** A coordinator that answered on the local network, with the URL to reach it at. */
export interface FoundCoordinator extends LanCoordinator {
  /** `http(s)://ADDRESS:PORT`: the address it answered from when it advertises that one. */
  url: string
}

/** What a browse saw: the coordinators, and why none could have answered, when that is known. */
export interface BrowseResult {
  found: FoundCoordinator[]
  /** A reason discovery could not work here (no interface, sending refused); undefined when it could. */
  problem: string | undefined
}

/** How long a browse listens by default: three queries a second apart, and a second for the last answers. */
export const BROWSE_MS = 3000
const QUERY_EVERY_MS = 1000
/** After the first answer, others on the same LAN answer within this long (RFC 6762 responders delay at most 500 ms). */
const SETTLE_MS = 1200
const MAX_FOUND = 32

function send(socket: Socket, buf: Buffer): Promise<Error | undefined> {
  return new Promise((resolve) => {
    try {
      socket.send(buf, MDNS_PORT, MDNS_GROUP, (err) => resolve(err ?? undefined))
    } catch (err) {
      resolve(err as Error)
    }
  })
}

function urlOf(c: LanCoordinator, from: string, lan: ReturnType<typeof multicastInterfaces>): string {
  // The sender's address is proven to reach us; a coordinator bound to one address advertises
  // only that one, so then it is used, preferring one on our link.
  const address =
    c.addresses.length === 0 || c.addresses.includes(from)
      ? from
      : (c.addresses.find((a) => onLink(a, lan)) ?? c.addresses.find((a) => isIP(a) === 4) ?? from)
  const host = isIP(address) === 6 ? `[${address}]` : address
  return `${c.tls ? 'https' : 'http'}://${host}:${c.port}`
}

/**
 * Asks the local network for `_gridx._tcp` coordinators (mDNS one-shot queries from an
 * ephemeral port, answered by unicast) and collects the answers for `timeoutMs`. Never throws:
 * what went wrong is in `problem`.
 */
export async function browseCoordinators(
  o: { timeoutMs?: number; interfaces?: () => Interfaces } = {},
): Promise<BrowseResult> {
  const timeoutMs = o.timeoutMs ?? BROWSE_MS
  const lan = multicastInterfaces((o.interfaces ?? networkInterfaces)())
  if (lan.length === 0)
    return {
      found: [],
      problem: 'this machine has no network interface with an IPv4 address besides loopback',
    }
  const found = new Map<string, FoundCoordinator>()
  let deadline = Date.now() + timeoutMs
  const socket = createSocket({ type: 'udp4' })
  const failures: string[] = []
  socket.on('error', (err) => failures.push(err.message))
  socket.on('message', (msg, from) => {
    if (msg.length > MAX_PACKET_BYTES) return
    for (const c of parseAdverts(msg)) {
      const key = `${c.name}|${c.port}|${[...c.addresses].sort().join(',') || from.address}`
      if (c.ttl === 0) found.delete(key)
      else if (found.size < MAX_FOUND || found.has(key)) {
        found.set(key, { ...c, url: urlOf(c, from.address, lan) })
        deadline = Math.min(deadline, Date.now() + SETTLE_MS)
      }
    }
  })
  const ok = await new Promise<boolean>((resolve) => {
    socket.once('error', () => resolve(false))
    socket.bind(0, () => resolve(true))
  })
  if (!ok) {
    socket.close()
    return { found: [], problem: `cannot open a UDP socket (${failures[0] ?? 'unknown error'})` }
  }
  let sent = 0
  try {
    socket.setMulticastTTL(255)
    // A coordinator on this machine hears the query too.
    socket.setMulticastLoopback(true)
  } catch (err) {
    failures.push((err as Error).message)
  }
  const query = encodeBrowseQuery(Math.floor(Math.random() * 0xffff))
  const round = async () => {
    for (const i of lan) {
      try {
        socket.setMulticastInterface(i.address)
      } catch (err) {
        failures.push(`${i.name}: ${(err as Error).message}`)
        continue
      }
      const err = await send(socket, query)
      if (err) failures.push(`${i.name}: ${err.message}`)
      else sent++
    }
  }
  deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (found.size === 0) await round()
    // Short naps, so an answer's earlier deadline ends the wait soon after it.
    const next = Date.now() + QUERY_EVERY_MS
    while (Date.now() < Math.min(next, deadline))
      await Bun.sleep(Math.max(1, Math.min(100, deadline - Date.now())))
  }
  socket.close()
  const problem =
    sent === 0
      ? `sending the mDNS query failed (${failures[0] ?? 'unknown error'}): is multicast to ${MDNS_GROUP} (UDP ${MDNS_PORT}) allowed out?`
      : undefined
  return { found: [...found.values()].sort((a, b) => a.url.localeCompare(b.url)), problem }
}
