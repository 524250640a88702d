import { hostname } from 'node:os'
import type { Advertiser } from '../coordinator/advertise'
import type { ServerTls } from '../tls/server-cert'
import { VERSION } from '../version'
import { note } from './options'

/**
 * Starts `gridx serve`'s LAN advertisement (mDNS `_gridx._tcp`) unless discovery is off. It is a
 * convenience: when it cannot start it says why in one line, and the coordinator serves on.
 */
export async function advertiseServe(
  on: boolean,
  o: { host: string; httpPort: number; tls: ServerTls | undefined; publicUrl: string | undefined },
): Promise<Advertiser | undefined> {
  if (!on) {
    note('LAN discovery: off (--no-advertise or GRIDX_DISCOVERY=0); clients need --coordinator')
    return undefined
  }
  const { startAdvertising } = await import('../coordinator/advertise')
  return startAdvertising({
    advert: {
      instance: hostname(),
      port: o.httpPort,
      version: VERSION,
      tls: o.tls !== undefined,
      fingerprint: o.tls?.leaf.fingerprint256,
      publicUrl: o.publicUrl,
    },
    bind: o.host,
    log: note,
  })
}
