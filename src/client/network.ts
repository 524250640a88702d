import { GridError } from '../errors'
import type { CoordinatorAddress } from './address'

/** Turns a failed connection to the coordinator into an error naming host, port, cause and fix. */
export function networkError(
  err: unknown,
  addr: CoordinatorAddress,
  port: number,
  what = 'the coordinator',
): GridError {
  const e = err as { name?: string; code?: string; message?: string }
  const where = `${addr.host}:${port}`
  const fix = (cause: string, hint: string) =>
    new GridError('coordinator_unreachable', `cannot reach ${what} at ${where}: ${cause}. ${hint}`, {
      retryable: true,
      cause: err,
    })
  switch (e.code ?? '') {
    case 'ECONNREFUSED':
    case 'ConnectionRefused':
      return fix(
        'connection refused (nothing is listening there)',
        `Is 'gridx serve' running on ${addr.host}, and is ${port} its port? If it runs on another machine, make sure it was not started with --host 127.0.0.1.`,
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
        'A proxy or firewall may be in the way; check that the port is the coordinator itself.',
      )
    case 'CERT_HAS_EXPIRED':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return fix(`TLS failed (${e.code})`, 'The certificate is not trusted for this host name.')
    default:
      break
  }
  if (e.name === 'TimeoutError' || e.code === 'ETIMEDOUT') {
    return fix(
      'timed out (no answer at all)',
      `A firewall is probably dropping traffic to port ${port}; open it on the coordinator's host, or check the address.`,
    )
  }
  return fix(e.message ?? String(err), 'Check the address and that the coordinator is running.')
}
