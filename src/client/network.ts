import { GridError } from '../errors'
import type { CoordinatorAddress } from './address'
import type { PeerCertificate } from './peer'
import { pinMismatch } from './trust'
import type { Route } from './proxy'
import { proxyFailure } from './proxy-errors'

/** What is known besides the error itself: the certificate actually served, the CA file trusted. */
export interface FailureContext {
  what?: string
  /** The server's certificate, read without trusting it (see `probeCertificate`). */
  peer?: PeerCertificate | undefined
  /** The `--ca-cert` file this client trusted, if any. */
  caPath?: string | undefined
  /** The fingerprint pinned for this coordinator, if any: another certificate is named as such. */
  pin?: string | undefined
  /** How the connection went: a failure of the proxy names the proxy. */
  route?: Route | undefined
}

/** Verification failures that mean "nobody this machine trusts signed it". */
const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
])
const WRONG_HOST = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH'])
const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID'])
/** An https client at a plain HTTP port fails the handshake this way. */
const NOT_TLS = new Set(['EPROTO', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG'])

function codeOf(err: unknown): string {
  return (err as { code?: unknown } | null)?.code?.toString() ?? ''
}

/** True for failures a certificate lookup can explain better: TLS refusals and resets. */
function worthProbing(err: unknown, addr: CoordinatorAddress): boolean {
  const code = codeOf(err)
  if (UNTRUSTED.has(code) || WRONG_HOST.has(code) || EXPIRED.has(code)) return true
  // A plain-HTTP client at an HTTPS port sees only a reset; a TLS answer there says why.
  return !addr.tls && code === 'ECONNRESET'
}

function tlsError(
  err: unknown,
  addr: CoordinatorAddress,
  port: number,
  ctx: FailureContext,
): GridError | undefined {
  const code = codeOf(err)
  const { peer, caPath } = ctx
  const where = `cannot connect securely to ${ctx.what ?? 'the coordinator'} at ${addr.host}:${port}`
  const fail = (id: string, text: string) => new GridError(id, `${where}: ${text}`, { cause: err })
  const fp = peer
    ? ` Its SHA-256 fingerprint is ${peer.fingerprint}: compare it with the one 'gridx serve' printed.`
    : ''
  if (UNTRUSTED.has(code)) {
    const who = peer
      ? peer.selfSigned
        ? 'it is self-signed'
        : `it was issued by ${peer.issuer}, whom this machine does not trust`
      : `${code}`
    if (caPath) {
      return fail(
        'tls_untrusted',
        `its TLS certificate is not trusted even with --ca-cert ${caPath} (${who}; that file did not sign it). Ask the operator for the certificate 'gridx serve' uses (or its CA's) and pass that file.${fp}`,
      )
    }
    return fail(
      'tls_untrusted',
      `its TLS certificate is not trusted (${who}). If you trust this coordinator, pass its certificate or its CA's with --ca-cert FILE (or GRIDX_CA_CERT=FILE); 'gridx serve' prints which file to copy.${fp}`,
    )
  }
  if (WRONG_HOST.has(code)) {
    const names = peer?.names ?? []
    if (!names.length) {
      return fail(
        'tls_wrong_host',
        `its TLS certificate is not valid for the name '${addr.host}': connect with a name the certificate covers, or have the operator add '${addr.host}' to it`,
      )
    }
    const scheme = addr.tls ? 'https' : 'http'
    return fail(
      'tls_wrong_host',
      `its TLS certificate is for ${names.join(', ')}, not for '${addr.host}'. Connect with a name it covers (e.g. --coordinator ${scheme}://${names[0]}:${port}), or have the operator add '${addr.host}' to the certificate (for --self-signed: --tls-san ${addr.host}).`,
    )
  }
  if (code === 'CERT_HAS_EXPIRED') {
    return fail(
      'tls_expired',
      `its TLS certificate expired${peer ? ` on ${peer.validTo}` : ''}: the operator must renew it. If it should still be valid, check this machine's clock.`,
    )
  }
  if (code === 'CERT_NOT_YET_VALID') {
    return fail(
      'tls_expired',
      "its TLS certificate is not valid yet: this machine's clock (or the coordinator's) is probably wrong; set it right (NTP).",
    )
  }
  if (NOT_TLS.has(code)) {
    return fail(
      'tls_mismatch',
      `the TLS handshake failed: nothing there speaks HTTPS. If the coordinator serves plain HTTP, use --coordinator http://${addr.host}:${port}; otherwise check the port.`,
    )
  }
  if (code === 'ECONNRESET' && !addr.tls && peer) {
    return fail(
      'tls_mismatch',
      `the coordinator there serves HTTPS (TLS) and this client spoke plain HTTP: use --coordinator https://${addr.host}:${port}`,
    )
  }
  return undefined
}

/** Turns a failed connection to the coordinator into an error naming host, port, cause and fix. */
export function networkError(
  err: unknown,
  addr: CoordinatorAddress,
  port: number,
  ctx: FailureContext = {},
): GridError {
  const proxied = ctx.route?.kind === 'proxy' ? proxyFailure(err, ctx.route.proxy, addr, port) : undefined
  if (proxied) return proxied
  if (ctx.pin && ctx.peer && ctx.peer.fingerprint !== ctx.pin)
    return pinMismatch(`${addr.host}:${port}`, ctx.pin, ctx.peer.fingerprint)
  const tls = tlsError(err, addr, port, ctx)
  if (tls) return tls
  const e = err as { name?: string; code?: string; message?: string }
  const where = `${addr.host}:${port}`
  const fix = (cause: string, hint: string) =>
    new GridError(
      'coordinator_unreachable',
      `cannot reach ${ctx.what ?? 'the coordinator'} at ${where}: ${cause}. ${hint}`,
      { retryable: true, cause: err },
    )
  switch (e.code ?? '') {
    case 'ECONNREFUSED':
    case 'ConnectionRefused':
      return fix(
        'connection refused (nothing is listening there)',
        `Is 'gridx serve' running on ${addr.host}, and is ${port} its port? If it runs on another machine, make sure it was not started with --host 127.0.0.1 and that its firewall lets port ${port} in.`,
      )
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return fix(
        `the name '${addr.host}' does not resolve`,
        'Check the spelling, or use the IP address of the coordinator.',
      )
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return fix('no route to that host', 'Check that both machines are on the same network (or VPN).')
    case 'ECONNRESET':
      return fix(
        'the connection was reset',
        `A proxy or firewall may be in the way; check that port ${port} is the coordinator itself${addr.tls ? '' : ', and whether it serves https (then use --coordinator https://...)'}.`,
      )
    default:
      break
  }
  if (e.name === 'TimeoutError' || e.code === 'ETIMEDOUT') {
    // Went direct because no proxy variable is set: on a network that lets out only a proxy, that is why.
    const unset = ctx.route?.kind === 'direct' ? ctx.route.unset : undefined
    return fix(
      'timed out (no answer at all)',
      `A firewall is probably dropping traffic to port ${port}; open it on the coordinator's host, or check the address.${unset ? ` If this network lets connections out only through a proxy (corporate, university), set ${unset}=http://PROXY:PORT (it is not set here).` : ''}`,
    )
  }
  return fix(e.message ?? String(err), 'Check the address and that the coordinator is running.')
}

/**
 * A gateway error without a Grid-X error body: a reverse proxy answered, but the coordinator
 * behind it did not. Retryable: it is often a coordinator restarting.
 */
export function proxyError(addr: CoordinatorAddress, status: number): GridError {
  return new GridError(
    'coordinator_unreachable',
    `the proxy at ${addr.host}:${addr.httpPort} answered HTTP ${status}: the coordinator behind it is not running or the proxy cannot reach it. Check 'gridx serve' on that machine and the proxy's upstream address (and that it passes WebSocket upgrades on /ws/worker).`,
    { retryable: true, status },
  )
}

/**
 * Like `networkError`, but first reads the server's certificate when that can say more (which
 * names it covers, who issued it, whether the port speaks TLS at all).
 */
export async function connectionError(
  err: unknown,
  addr: CoordinatorAddress,
  port: number,
  ctx: FailureContext = {},
): Promise<GridError> {
  // A failure of the proxy itself is named at once: the coordinator behind it cannot say more.
  const proxy = ctx.route?.kind === 'proxy' ? ctx.route.proxy : undefined
  const proxied = proxy ? proxyFailure(err, proxy, addr, port) : undefined
  if (proxied) return proxied
  // Bun reports a pinned certificate refused by its fingerprint check with no code: look at it,
  // through the proxy's tunnel when the connection went through one.
  const pinned = ctx.pin !== undefined && addr.tls && !/timeout|refused/i.test(codeOf(err) + String(err))
  const peer =
    pinned || worthProbing(err, addr)
      ? await (await import('./peer')).probeCertificate(addr.host, port, 3000, proxy)
      : undefined
  return networkError(err, addr, port, { ...ctx, peer })
}
