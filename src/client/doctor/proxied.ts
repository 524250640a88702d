import { type CheckResult, fail, ok } from '../../protocol/doctor'
import type { CoordinatorAddress } from '../address'
import type { ProxyUrl } from '../proxy'
import { proxyFailure } from '../proxy-errors'
import { connectionFailure, type PortRole } from './reach'
import { probeTcp } from './probes'
import { openTunnel } from '../tunnel'

/** The proxy itself: does it accept TCP connections. */
export async function checkProxy(proxy: ProxyUrl, timeoutMs: number): Promise<CheckResult> {
  const r = await probeTcp(proxy.host, proxy.port, timeoutMs)
  if (r.kind === 'open')
    return ok('proxy', `${proxy.shown} (${proxy.from}) accepts TCP connections (${r.address})`)
  const f = connectionFailure('proxy', r, proxy.host, proxy.port, {
    refused: `check ${proxy.from}: no proxy listens at ${proxy.host}:${proxy.port}`,
  })
  return {
    ...f,
    detail: `${proxy.shown} (${proxy.from}): ${f.detail}`,
    fix: `${f.fix ?? ''}; or unset ${proxy.from} if this network needs no proxy`,
  }
}

/** One of the coordinator's ports, reached through the proxy with CONNECT as the clients do. */
export async function checkTunnel(
  addr: CoordinatorAddress,
  proxy: ProxyUrl,
  port: number,
  role: PortRole,
  timeoutMs: number,
): Promise<CheckResult> {
  const t = await openTunnel(proxy, addr.host, port, timeoutMs)
  const via = `via proxy ${proxy.shown}`
  if (t.kind === 'tunnel') {
    t.socket.destroy()
    return ok(role.check, `${addr.host}:${port} reachable ${via} (CONNECT answered 200)`)
  }
  const err =
    t.kind === 'answer'
      ? proxyFailure(new Error(`Proxy refused to open a tunnel: ${t.status} ${t.text}`), proxy, addr, port)
      : t.kind === 'timeout'
        ? undefined
        : proxyFailure(Object.assign(new Error(t.message), { code: t.code }), proxy, addr, port)
  if (err) return fail(role.check, `${addr.host}:${port} not reachable ${via}`, err.message)
  return fail(
    role.check,
    `no answer to CONNECT ${addr.host}:${port} from the proxy ${proxy.shown} within ${timeoutMs} ms`,
    `the proxy or the coordinator behind it is not answering: check ${proxy.from}, and that the proxy may reach ${addr.host}:${port}`,
  )
}
