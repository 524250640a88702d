import { type CheckResult, fail, skip } from '../../protocol/doctor'
import type { CoordinatorAddress } from '../address'
import type { SavedLogin } from '../credentials'
import {
  describeRoute,
  NO_PROXY_SETTINGS,
  type ProxySettings,
  type ProxyUrl,
  type Route,
  routeFor,
} from '../proxy'
import { checkPin } from './pin'
import { checkProxy, checkTunnel } from './proxied'
import { checkName, checkPort, checkTls, HTTP_ROLE, WS_ROLE } from './reach'
import { checkClock, checkCredentials, checkHealth, checkWebSocket } from './service'

/** What the client-side checks need: where the coordinator is and how this machine logs in to it. */
export interface CoordinatorCheckOptions {
  addr: CoordinatorAddress
  /** PEM of a private CA to trust (`--ca-cert`), if any. */
  ca: string | undefined
  /** The SHA-256 of the certificate the login pinned, if any: checked first (the `pin` check). */
  pin?: string | undefined
  /** The saved login for this coordinator, if any. */
  login: SavedLogin | undefined
  /** User and password to try when there is no saved login. */
  creds: { user: string; password: string } | undefined
  /** Deadline of each network check. */
  timeoutMs: number
  /** HTTPS_PROXY / HTTP_PROXY / NO_PROXY, used as the clients use them. */
  proxy?: ProxySettings | undefined
  now?: () => number
}

/**
 * Checks, in order, everything between this machine and a coordinator: name, both ports, TLS,
 * /health, clock, the worker WebSocket and the credentials. A check that depends on one that
 * failed is skipped, saying why.
 */
export async function checkCoordinator(o: CoordinatorCheckOptions): Promise<CheckResult[]> {
  const { addr, timeoutMs } = o
  const now = o.now ?? Date.now
  const proxy = o.proxy ?? NO_PROXY_SETTINGS
  const net = { ca: o.ca, pin: o.pin, timeoutMs, proxy }
  const results: CheckResult[] = []
  let route: Route
  try {
    route = routeFor(proxy, addr.httpUrl)
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    return [fail('proxy', message, 'fix or unset the proxy variable')]
  }
  // Each network check says how it went when a proxy variable is set: "via proxy …" or "direct (NO_PROXY: …)".
  const via = proxy.https || proxy.http ? ` — ${describeRoute(route)}` : ''
  const add = (...r: CheckResult[]) => {
    results.push(
      ...r.map((c) => (c.status === 'skip' || c.check === 'clock' ? c : { ...c, detail: c.detail + via })),
    )
    return r.every((c) => c.status !== 'fail')
  }
  if (route.kind === 'proxy') return viaProxy(o, route.proxy, net, results, add)
  const skipAll = (why: string, ...checks: string[]) => results.push(...checks.map((c) => skip(c, why)))

  const apiChecks = ['health', 'clock', 'credentials']
  const samePort = addr.httpPort === addr.wsPort
  const tlsChecks = addr.tls ? (samePort ? ['http tls'] : ['http tls', 'ws tls']) : []

  if (!add(await checkName(addr.host, timeoutMs))) {
    skipAll(
      `the name ${addr.host} does not resolve`,
      'http port',
      'ws port',
      ...tlsChecks,
      ...apiChecks,
      'websocket',
    )
    return results
  }
  const http = noProxyHint(await checkPort(addr.host, addr.httpPort, HTTP_ROLE, timeoutMs), proxy)
  const ws = samePort
    ? undefined
    : await checkPort(
        addr.host,
        addr.wsPort,
        WS_ROLE,
        timeoutMs,
        http.status === 'ok' ? { port: addr.httpPort, role: HTTP_ROLE } : undefined,
      )
  // Why the API / the worker socket cannot be talked to; undefined while they can.
  const down = (check: string, port: number) => `no connection to ${addr.host}:${port} (see ${check})`
  let apiDown = add(http) ? undefined : down('http port', addr.httpPort)
  let wsDown = apiDown
  if (ws) wsDown = add(ws) ? undefined : down('ws port', addr.wsPort)
  else results.push(skip('ws port', `the worker socket shares the API port ${addr.httpPort}`))

  if (addr.tls && o.pin) {
    if (apiDown) results.push(skip('pin', apiDown))
    else if (!add(await checkPin(addr.host, addr.httpPort, o.pin, { timeoutMs })))
      apiDown = wsDown = `the coordinator's certificate is not the pinned one (see pin)`
  }
  if (addr.tls) {
    const tls = async (check: string, port: number) =>
      add(await checkTls(check, addr.host, port, { ...net, now: now() }))
        ? undefined
        : `no trusted TLS connection to ${addr.host}:${port} (see ${check})`
    if (apiDown) results.push(skip('http tls', apiDown))
    else apiDown = await tls('http tls', addr.httpPort)
    if (samePort) wsDown = apiDown
    else if (wsDown) results.push(skip('ws tls', wsDown))
    else wsDown = await tls('ws tls', addr.wsPort)
  }

  if (apiDown) {
    skipAll(apiDown, ...apiChecks)
  } else {
    const health = await checkHealth(addr, net)
    const healthy = add(...health.result)
    const reply = health.reply
    if (reply) add(checkClock(reply.date, reply.sentAt, reply.receivedAt, addr.host))
    else results.push(skip('clock', 'no answer from the coordinator to read its time from (see health)'))
    if (healthy) add(await checkCredentials(addr, o.login, o.creds, { ...net, now: now() }))
    else
      results.push(
        skip('credentials', `${addr.httpUrl} does not answer as a Grid-X coordinator (see health)`),
      )
  }

  if (wsDown) results.push(skip('websocket', wsDown))
  else add(await checkWebSocket(addr, o.login?.token, net))
  return results
}

/** A direct connection that times out on a network where no proxy variable is set: a proxy may be the way out. */
function noProxyHint(c: CheckResult, proxy: ProxySettings): CheckResult {
  if (c.status !== 'fail' || !c.detail.includes('(timed out)') || proxy.https || proxy.http) return c
  return {
    ...c,
    fix: `${c.fix ?? ''}; if this network lets connections out only through a proxy (corporate, university), set HTTPS_PROXY=http://PROXY:PORT (no proxy variable is set here)`,
  }
}

/** The checks through a proxy: the proxy itself, the tunnel to each port, then the API and the socket through it. */
async function viaProxy(
  o: CoordinatorCheckOptions,
  proxy: ProxyUrl,
  net: { ca: string | undefined; pin: string | undefined; timeoutMs: number; proxy: ProxySettings },
  results: CheckResult[],
  add: (...r: CheckResult[]) => boolean,
): Promise<CheckResult[]> {
  const { addr, timeoutMs } = o
  const skipAll = (why: string, ...checks: string[]) => results.push(...checks.map((c) => skip(c, why)))
  skipAll(`the proxy ${proxy.shown} looks up the name`, 'name')
  if (!add(await checkProxy(proxy, timeoutMs))) {
    skipAll(
      'no connection to the proxy (see proxy)',
      'http port',
      'ws port',
      'health',
      'clock',
      'credentials',
      'websocket',
    )
    return results
  }
  let apiUp = add(await checkTunnel(addr, proxy, addr.httpPort, HTTP_ROLE, timeoutMs))
  let wsUp =
    addr.wsPort === addr.httpPort
      ? apiUp
      : add(await checkTunnel(addr, proxy, addr.wsPort, WS_ROLE, timeoutMs))
  if (
    addr.tls &&
    o.pin &&
    apiUp &&
    !add(await checkPin(addr.host, addr.httpPort, o.pin, { timeoutMs, proxy }))
  )
    apiUp = wsUp = false
  if (!apiUp) {
    skipAll('no tunnel to the API port (see http port)', 'health', 'clock', 'credentials')
  } else {
    // TLS is checked end to end by these, through the tunnel, with --ca-cert as the clients use it.
    const health = await checkHealth(addr, net)
    const healthy = add(...health.result)
    const reply = health.reply
    if (reply) add(checkClock(reply.date, reply.sentAt, reply.receivedAt, addr.host))
    if (healthy) add(await checkCredentials(addr, o.login, o.creds, { ...net, now: (o.now ?? Date.now)() }))
    else skipAll(`${addr.httpUrl} does not answer as a Grid-X coordinator (see health)`, 'credentials')
  }
  if (!wsUp) skipAll('no tunnel to the worker socket port (see ws port)', 'websocket')
  else add(await checkWebSocket(addr, o.login?.token, net))
  return results
}
