import { Health, Session } from '../../protocol/api'
import { type CheckResult, fail, ok, warn } from '../../protocol/doctor'
import { VERSION } from '../../version'
import type { CoordinatorAddress } from '../address'
import type { SavedLogin } from '../credentials'
import type { ProxySettings } from '../proxy'
import { errorMessage, type HttpReply, probeHttp } from './http'
import { connectionFailure, WS_ROLE } from './reach'
import { probeWebSocket } from './probes'

/** Clock skew above this is worth a warning: token expiry and receipts compare times. */
export const SKEW_WARN_MS = 5_000

/** Network settings every service check shares. */
export interface ProbeOptions {
  ca: string | undefined
  /** The pinned certificate's SHA-256: it replaces the host-name check, as in the clients (`tlsOptions`). */
  pin?: string | undefined
  timeoutMs: number
  /** The proxy variables, used as the clients use them. */
  proxy?: ProxySettings | undefined
}

const wrongPortFix = (addr: CoordinatorAddress) =>
  `wrong port or address? 'gridx serve' answers GET /health on its API port (8081 unless --http-port says otherwise): check --coordinator ${addr.input} and --http-port`

/** `GET /health`: a Grid-X coordinator answers it without credentials. */
export async function checkHealth(
  addr: CoordinatorAddress,
  opts: ProbeOptions,
): Promise<{ result: CheckResult[]; reply: HttpReply | undefined }> {
  const url = `${addr.httpUrl}/health`
  const r = await probeHttp(url, opts)
  if (r.kind !== 'reply') {
    const result = connectionFailure('health', r, addr.host, addr.httpPort, {
      refused: `start 'gridx serve' on ${addr.host}`,
      other: addr.tls
        ? `check that ${addr.host}:${addr.httpPort} serves HTTPS`
        : `if the coordinator serves TLS, use --coordinator https://${addr.host}:${addr.httpPort}`,
    })
    if (r.kind === 'timeout') {
      // The TCP check passed, so nothing drops packets: the server itself does not answer.
      result.detail = `${url} connects but gives no answer within ${opts.timeoutMs} ms`
      result.fix = `is the coordinator hung or overloaded? check its log; a proxy in front of it may not forward`
    }
    return { result: [result], reply: undefined }
  }
  const h = Health.safeParse(r.json)
  if (r.status !== 200 || !h.success) {
    const what = r.status === 200 ? 'an answer that is not Grid-X health' : `HTTP ${r.status}`
    return {
      result: [fail('health', `${url} gave ${what}: not a Grid-X coordinator`, wrongPortFix(addr))],
      reply: r,
    }
  }
  const summary = `Grid-X ${h.data.version} at ${addr.httpUrl}: up ${h.data.uptimeSeconds} s, ${h.data.workers} worker(s), ${h.data.queuedJobs} queued, ${h.data.runningJobs} running`
  // Degraded is up but refusing what it cannot do (a full disk): a warning, so the checks that
  // need only a live coordinator still run.
  const result = [
    h.data.status === 'ok'
      ? ok('health', summary)
      : warn(
          'health',
          `${summary}, but degraded: ${h.data.reason ?? 'no reason given'}`,
          "the coordinator's operator must fix it (a full disk: free space in its data directory; see docs/TROUBLESHOOTING.md, disk_full)",
        ),
  ]
  if (h.data.version !== VERSION) {
    result.push(
      warn(
        'version',
        `the coordinator runs Grid-X ${h.data.version}, this is ${VERSION}`,
        `use the same gridx release on every machine`,
      ),
    )
  }
  return { result, reply: r }
}

/** Clock skew from the server's Date header (whole seconds) against the middle of the round trip. */
export function checkClock(
  serverDate: Date | undefined,
  sentAt: number,
  receivedAt: number,
  host: string,
): CheckResult {
  if (!serverDate) return warn('clock', `${host} sent no Date header; skew unknown`)
  // The header is truncated to the second: the server's time lies in [date, date + 1 s).
  const skewMs = serverDate.getTime() + 500 - (sentAt + receivedAt) / 2
  const slack = 500 + (receivedAt - sentAt) / 2
  const seconds = Math.round(Math.abs(skewMs) / 1000)
  if (Math.abs(skewMs) - slack <= SKEW_WARN_MS) {
    return ok('clock', `this clock is within ${Math.max(1, seconds)} s of ${host}'s`)
  }
  return warn(
    'clock',
    `this clock is ${seconds} s ${skewMs < 0 ? 'ahead of' : 'behind'} ${host}'s`,
    `turn on time sync on both machines: 'sudo timedatectl set-ntp true' (or chrony/ntpd)`,
  )
}

/** A WebSocket handshake on /ws/worker, with the saved token if any. */
export async function checkWebSocket(
  addr: CoordinatorAddress,
  token: string | undefined,
  opts: ProbeOptions,
): Promise<CheckResult> {
  const r = await probeWebSocket(addr.wsUrl, { token, ...opts })
  const proxyFix = `a proxy in between must pass the upgrade: nginx 'proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade";'`
  if (r.kind !== 'reply') {
    return connectionFailure('websocket', r, addr.host, addr.wsPort, {
      refused: `start 'gridx serve' on ${addr.host}`,
      other: addr.tls
        ? `check that ${addr.host}:${addr.wsPort} serves TLS`
        : `if the coordinator serves TLS, use --coordinator wss://${addr.host}:${addr.wsPort}`,
    })
  }
  if (r.upgraded) return ok('websocket', `${addr.wsUrl} accepts the WebSocket handshake`)
  switch (r.status) {
    case 101:
      return fail('websocket', `${addr.wsUrl} answered 101 with a wrong Sec-WebSocket-Accept`, proxyFix)
    case 401:
      return ok(
        'websocket',
        `${addr.wsUrl} answers the WebSocket handshake and asks for credentials (HTTP 401${token ? ': the saved token was refused, see credentials' : ': not logged in'})`,
      )
    case 404:
      return fail(
        'websocket',
        `${addr.wsUrl} has no WebSocket endpoint (HTTP 404)`,
        `check the worker port (${WS_ROLE.flag} / ${WS_ROLE.env}, 8080 by default) and --coordinator; a proxy must forward /ws/worker`,
      )
    default:
      return fail(
        'websocket',
        `${addr.wsUrl} refused the WebSocket handshake (HTTP ${r.status}${r.message ? `: ${r.message}` : ''})`,
        r.status === 426 || r.status === 400 || r.status >= 500 ? proxyFix : wrongPortFix(addr),
      )
  }
}

/** Whether the given user and password work (they win over a saved login), else whether the saved login does. */
export async function checkCredentials(
  addr: CoordinatorAddress,
  login: SavedLogin | undefined,
  creds: { user: string; password: string } | undefined,
  opts: ProbeOptions & { now: number },
): Promise<CheckResult> {
  const relogin = (user: string) => `gridx login --coordinator ${addr.input} --user ${user}`
  // --user/--password (or GRIDX_USER/GRIDX_PASSWORD) are what the caller asked about.
  if (creds) return tryLogin(addr, creds, opts)
  if (login) {
    const r = await probeHttp(`${addr.httpUrl}/api/me`, { ...opts, token: login.token })
    if (r.kind !== 'reply') {
      return connectionFailure('credentials', r, addr.host, addr.httpPort, { refused: relogin(login.user) })
    }
    if (r.status === 200) {
      return ok(
        'credentials',
        `logged in as ${login.user} (the saved token is valid until ${login.expiresAt})`,
      )
    }
    if (r.status === 401) {
      const expired = Date.parse(login.expiresAt) <= opts.now
      return fail(
        'credentials',
        `the saved login of ${login.user} on ${addr.httpUrl} is refused: ${expired ? `it expired at ${login.expiresAt}` : 'it was revoked (logged out elsewhere, or the coordinator lost its data)'}`,
        relogin(login.user),
      )
    }
    return fail(
      'credentials',
      `GET /api/me answered HTTP ${r.status}${errorMessage(r.json) ? `: ${errorMessage(r.json)}` : ''}`,
      wrongPortFix(addr),
    )
  }
  return warn(
    'credentials',
    `not logged in to ${addr.httpUrl}`,
    `${relogin('NAME')} (or 'gridx register' for a new account)`,
  )
}

/** Logs in with the given user and password, then revokes the token it got. */
async function tryLogin(
  addr: CoordinatorAddress,
  creds: { user: string; password: string },
  opts: ProbeOptions,
): Promise<CheckResult> {
  const r = await probeHttp(`${addr.httpUrl}/api/auth/login`, { ...opts, method: 'POST', body: creds })
  if (r.kind !== 'reply') {
    return connectionFailure('credentials', r, addr.host, addr.httpPort, {
      refused: `start 'gridx serve' on ${addr.host}`,
    })
  }
  const session = Session.safeParse(r.json)
  if (r.status === 200 && session.success) {
    // The doctor only tests the password; it leaves no session behind.
    await probeHttp(`${addr.httpUrl}/api/auth/logout`, { ...opts, method: 'POST', token: session.data.token })
    return ok('credentials', `${creds.user} can log in (password from --password / GRIDX_PASSWORD)`)
  }
  if (r.status === 401) {
    return fail(
      'credentials',
      `${errorMessage(r.json) ?? `wrong user name or password for '${creds.user}'`} on ${addr.httpUrl}`,
      `check --user/--password (or GRIDX_USER/GRIDX_PASSWORD); no account yet? 'gridx register --coordinator ${addr.input} --user ${creds.user}'`,
    )
  }
  return fail(
    'credentials',
    `login answered HTTP ${r.status}${errorMessage(r.json) ? `: ${errorMessage(r.json)}` : ''}`,
    r.status === 400 ? `check --user/--password (or GRIDX_USER/GRIDX_PASSWORD)` : wrongPortFix(addr),
  )
}
