import { type CheckResult, ok, skip, warn } from '../../protocol/doctor'
import { MDNS_PORT } from '../../protocol/lan'
import type { BrowseResult, FoundCoordinator } from '../discovery'

const CHECK = 'lan discovery'

function line(c: FoundCoordinator): string {
  const trust = c.tls ? `TLS, certificate SHA-256 ${c.fingerprint ?? 'not advertised'}` : 'plain HTTP'
  const addresses = c.addresses.length ? c.addresses.join(', ') : 'none advertised'
  return `coordinator ${c.name} at ${c.url}: addresses ${addresses}; port ${c.port}; ${trust}${c.version ? `; version ${c.version}` : ''}${c.publicUrl ? `; public address ${c.publicUrl}` : ''}`
}

/**
 * What mDNS discovery sees from here: one line per coordinator that answered, or why none may
 * have. `needed` is true when nothing names a coordinator, so discovery is how one would be found.
 */
export function lanChecks(
  seen: BrowseResult | undefined,
  o: { needed: boolean; serve: boolean },
): CheckResult[] {
  // Off, it matters only where nothing names a coordinator: then it explains why none is found.
  if (!seen)
    return o.needed
      ? [skip(CHECK, 'discovery is off here (GRIDX_DISCOVERY=0 or "discovery": false in config.json)')]
      : []
  const firewall = `mDNS needs multicast to 224.0.0.251, UDP port ${MDNS_PORT}, allowed in and out on both machines, and both on the same LAN (routers do not forward it)`
  if (seen.problem) return [warn(CHECK, `cannot look for coordinators: ${seen.problem}`, firewall)]
  if (seen.found.length === 0) {
    const detail = `no coordinator answered on the local network${o.serve ? " (not even this one: 'gridx serve' advertises unless --no-advertise)" : ''}`
    return o.needed || o.serve
      ? [warn(CHECK, detail, `${firewall}; otherwise pass --coordinator HOST`)]
      : [ok(CHECK, `${detail} (not needed: a coordinator is named)`)]
  }
  return seen.found.map((c) => ok(CHECK, line(c)))
}
