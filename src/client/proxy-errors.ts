import { GridError } from '../errors'
import type { CoordinatorAddress } from './address'
import type { ProxyUrl } from './proxy'

function codeOf(err: unknown): string {
  return (err as { code?: unknown } | null)?.code?.toString() ?? ''
}

function textOf(err: unknown): string {
  if (err instanceof Error) return err.message
  return typeof err === 'string' ? err : ''
}

/** The proxy's status line in Bun's tunnel errors: "Proxy refused to open a tunnel: 403 Access violation". */
const TUNNEL_STATUS =
  /(?:Proxy refused to open a tunnel|Proxy connection failed|Proxy authentication required):\s*(\d{3})\s*([^\n]*)/i

/** The proxy's answer to CONNECT, when Bun reported one. */
export function tunnelStatus(err: unknown): { status: number; text: string } | undefined {
  const m = TUNNEL_STATUS.exec(textOf(err))
  if (!m) return undefined
  return { status: Number(m[1]), text: m[2]!.trim().slice(0, 100) }
}

function statusAdvice(
  proxy: ProxyUrl,
  target: string,
  port: number,
  status: number,
  line: string,
): GridError {
  const at = `the proxy ${proxy.shown} (${proxy.from})`
  if (status === 407 || status === 401) {
    return new GridError(
      'proxy_auth',
      proxy.hasAuth
        ? `${at} refused the user name and password in ${proxy.from} (HTTP ${line}): check them (special characters %-encoded, e.g. @ as %40)`
        : `${at} wants a login (HTTP ${line}): put it in the variable, ${proxy.from}=http://USER:PASSWORD@${proxy.host}:${proxy.port}`,
      { status: 502 },
    )
  }
  if (status === 502 || status === 503 || status === 504) {
    return new GridError(
      'coordinator_unreachable',
      `${at} could not reach the coordinator at ${target} (HTTP ${line}): is 'gridx serve' running there, and may the proxy reach it? If the coordinator is on this network, add it to NO_PROXY`,
      { retryable: true, status: 502 },
    )
  }
  return new GridError(
    'proxy_refused',
    `${at} refused to open a tunnel to ${target} (HTTP ${line}): its rules may forbid port ${port} (tinyproxy: ConnectPort ${port}; squid: the SSL_ports / CONNECT rules). Ask its administrator to allow ${target}, or add the coordinator to NO_PROXY if it is reachable directly`,
    { status: 502 },
  )
}

/**
 * Explains a failure of a connection that went through `proxy`, naming the proxy (not the
 * coordinator) when the proxy is what failed; undefined for failures past the proxy (TLS).
 */
export function proxyFailure(
  err: unknown,
  proxy: ProxyUrl,
  addr: Pick<CoordinatorAddress, 'host'>,
  port: number,
): GridError | undefined {
  const target = `${addr.host}:${port}`
  const answer = tunnelStatus(err)
  if (answer) {
    const line = `${answer.status}${answer.text ? ` ${answer.text}` : ''}`
    return statusAdvice(proxy, target, port, answer.status, line)
  }
  const at = `cannot reach the proxy ${proxy.shown} (${proxy.from}) at ${proxy.host}:${proxy.port}`
  const unreachable = (why: string, fix: string) =>
    new GridError('proxy_unreachable', `${at}: ${why}. ${fix}`, { retryable: true, cause: err })
  const fixVar = `Check ${proxy.from} (host and port of your network's proxy), or unset it if this network needs none`
  switch (codeOf(err)) {
    case 'ECONNREFUSED':
    case 'ConnectionRefused':
      return unreachable('connection refused (no proxy listens there)', fixVar)
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return unreachable(`the name '${proxy.host}' does not resolve`, fixVar)
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return unreachable('no route to it', fixVar)
    case 'ECONNRESET':
      return unreachable('it reset the connection', `Is ${proxy.host}:${proxy.port} an HTTP proxy? ${fixVar}`)
    default:
      break
  }
  const e = err as { name?: string } | null
  if (e?.name === 'TimeoutError' || codeOf(err) === 'ETIMEDOUT' || /\btime(?:d )?out\b/i.test(textOf(err))) {
    return new GridError(
      'proxy_unreachable',
      `no answer through the proxy ${proxy.shown} (${proxy.from}) from the coordinator at ${target} in time: the proxy at ${proxy.host}:${proxy.port} or the coordinator behind it is not answering. ${fixVar}`,
      { retryable: true, cause: err },
    )
  }
  return undefined
}

/** A forward proxy's own HTTP answer (a plain-http coordinator through a proxy): what it means. */
export function forwardProxyStatus(
  proxy: ProxyUrl,
  addr: CoordinatorAddress,
  status: number,
  statusText: string,
): GridError {
  const line = `${status}${statusText ? ` ${statusText}` : ''}`
  return statusAdvice(proxy, `${addr.host}:${addr.httpPort}`, addr.httpPort, status, line)
}
