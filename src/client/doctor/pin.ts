import { type CheckResult, fail, ok } from '../../protocol/doctor'
import { readPeerCertificate } from '../peer'
import type { ProxyUrl } from '../proxy'
import { pinMismatch } from '../trust'

/**
 * The certificate a login pinned (a join token's fingerprint, a yes to a discovered coordinator):
 * is the one served now that one? The commands refuse any other, so doctor says which it saw.
 * Read as the clients connect: through `proxy`'s tunnel when they go through one.
 */
export async function checkPin(
  host: string,
  port: number,
  fingerprint: string,
  opts: { timeoutMs: number; proxy?: ProxyUrl | undefined },
): Promise<CheckResult> {
  const peer = await readPeerCertificate(host, port, opts.timeoutMs, opts.proxy)
  if (peer instanceof Error) return fail('pin', peer.message, 'see the proxy check')
  if ('unread' in peer) {
    return fail(
      'pin',
      `cannot read the certificate of ${host}:${port} to compare with the pinned one (SHA-256 ${fingerprint}): ${peer.unread}`,
      `check that ${host}:${port} is the coordinator and serves HTTPS`,
    )
  }
  if (peer.fingerprint !== fingerprint) {
    return fail(
      'pin',
      pinMismatch(`${host}:${port}`, fingerprint, peer.fingerprint).message,
      `ask the coordinator's operator which certificate it serves now (the 'SHA-256 fingerprint' line of 'gridx serve'); if it changed, join again with a fresh join line`,
    )
  }
  return ok('pin', `the coordinator's certificate is the pinned one (SHA-256 ${fingerprint})`)
}
