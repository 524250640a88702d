import type { NetworkInterfaceInfo } from 'node:os'

/** `os.networkInterfaces()`'s shape, passed in so the choice below stays testable. */
export type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>

/** One IPv4 interface that mDNS is sent and heard on. */
export interface MulticastInterface {
  name: string
  address: string
  netmask: string
}

/** The non-loopback IPv4 interfaces, one entry per interface (its first address). */
export function multicastInterfaces(ifs: Interfaces): MulticastInterface[] {
  const out: MulticastInterface[] = []
  for (const [name, list] of Object.entries(ifs)) {
    const v4 = (list ?? []).find((i) => i.family === 'IPv4' && !i.internal)
    if (v4) out.push({ name, address: v4.address, netmask: v4.netmask })
  }
  return out
}

/** Addresses other machines may use: non-loopback IPv4, and IPv6 other than link-local (it needs a zone). */
export function advertisedAddresses(ifs: Interfaces): string[] {
  const all = Object.values(ifs).flatMap((l) => l ?? [])
  return [
    ...new Set(
      all
        .filter((i) => !i.internal && (i.family === 'IPv4' || !i.address.toLowerCase().startsWith('fe80:')))
        .map((i) => i.address),
    ),
  ]
}

function v4(address: string): number | undefined {
  const parts = address.split('.').map(Number)
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0
}

/**
 * True when an IPv4 address is on the link of one of these interfaces. A responder sends
 * unicast answers only to such senders (RFC 6762 section 11), so a spoofed query from afar
 * cannot turn it into a reflector.
 */
export function onLink(address: string, ifs: MulticastInterface[]): boolean {
  const a = v4(address)
  if (a === undefined) return false
  return ifs.some((i) => {
    const net = v4(i.address)
    const mask = v4(i.netmask)
    return net !== undefined && mask !== undefined && (a & mask) >>> 0 === (net & mask) >>> 0
  })
}
