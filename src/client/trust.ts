import { GridError } from '../errors'
import type { ProxyUrl } from './proxy'

/** A PEM file of certificates to trust besides the system's (`--ca-cert`), kept whole so it outlives the file. */
export interface TrustedCa {
  path: string
  pem: string
}

/**
 * A coordinator certificate pinned by its SHA-256 (from a join token, or accepted on a terminal):
 * only this exact leaf certificate is accepted, whatever names it covers.
 */
export interface Pin {
  /** SHA-256 of the leaf certificate, as `AB:CD:…` (the form of `X509Certificate.fingerprint256`). */
  fingerprint: string
  /**
   * The certificate the served chain ends in when it signed itself (a `--self-signed` coordinator's
   * own): TLS verifies the chain against it. Absent: against the system's CAs (and `ca`).
   */
  anchor?: string | undefined
}

/** Everything a client trusts for one coordinator, besides the system's CAs. */
export interface Trust {
  ca?: TrustedCa | undefined
  pin?: Pin | undefined
}

/** The `tls` option of Bun's fetch and WebSocket for a trust: undefined leaves the defaults. */
export interface TlsOptions {
  ca?: string
  /** The name to send as SNI and check the certificate against, when the URL names an IP of it. */
  serverName?: string
  checkServerIdentity?: (host: string, cert: { fingerprint256?: string }) => Error | undefined
}

export { normalizeFingerprint } from '../protocol/fingerprint'

/**
 * Bun's fetch and WebSocket options for a trust. A pin replaces the host-name check by the exact
 * fingerprint (a token may name the coordinator by an address its certificate does not cover),
 * but the chain is still verified, so a pin never lets in a certificate that is not the pinned one:
 * Bun calls `checkServerIdentity` only after the chain verified (with `rejectUnauthorized: false`
 * it would not call it at all, which is why that option is never used here).
 */
export function tlsOptions(trust: Trust | undefined, serverName?: string): TlsOptions | undefined {
  const name = serverName ? { serverName } : {}
  if (!trust?.pin) return trust?.ca ? { ca: trust.ca.pem, ...name } : serverName ? name : undefined
  const { fingerprint, anchor } = trust.pin
  const ca = [trust.ca?.pem, anchor].filter((p) => p).join('\n')
  return {
    ...name,
    ...(ca ? { ca } : {}),
    checkServerIdentity: (_host, cert) =>
      cert.fingerprint256 === fingerprint
        ? undefined
        : new Error(
            `certificate fingerprint ${cert.fingerprint256 ?? 'unknown'} is not the pinned ${fingerprint}`,
          ),
  }
}

/** The refusal of a certificate that is not the pinned one, naming both fingerprints. */
export function pinMismatch(where: string, expected: string, seen: string): GridError {
  return new GridError(
    'tls_pin_mismatch',
    `the coordinator at ${where} showed a TLS certificate with SHA-256 fingerprint ${seen}, but ${expected} is the one pinned for it (from the join token or your login): refused, as someone may be intercepting the connection. If its operator says the coordinator has a new certificate, join again with a fresh 'gridx work --join'/'gridx register --join' line (or 'gridx logout' and log in again)`,
  )
}

/**
 * Reads the certificate a coordinator serves (without trusting it) and pins it when its SHA-256
 * is `fingerprint`; any other certificate is refused with both fingerprints. `proxy`: the proxy
 * the API calls go through, so the certificate is read the same way (direct may be blocked).
 */
export async function pinServedCertificate(
  host: string,
  port: number,
  fingerprint: string,
  proxy?: ProxyUrl,
): Promise<Pin> {
  // ./peer (node:tls, node:crypto's X509) loads only when a certificate is to be read.
  const { readPeerCertificate } = await import('./peer')
  const peer = await readPeerCertificate(host, port, 10_000, proxy)
  const where = `${host}:${port}`
  if (peer instanceof GridError) throw peer
  if ('unread' in peer) {
    throw new GridError(
      'coordinator_unreachable',
      `cannot read the TLS certificate of the coordinator at ${where}${proxy ? ` (via proxy ${proxy.shown}, ${proxy.from})` : ''}: ${peer.unread}. Is 'gridx serve' running on that machine, and does its firewall let port ${port} in?${proxy ? '' : ' If this network lets connections out only through a proxy, set HTTPS_PROXY=http://PROXY:PORT'}`,
      { retryable: true },
    )
  }
  if (peer.fingerprint !== fingerprint) throw pinMismatch(where, fingerprint, peer.fingerprint)
  return { fingerprint, ...(peer.anchor ? { anchor: peer.anchor } : {}) }
}
