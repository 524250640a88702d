import { createHash, randomBytes } from 'node:crypto'
import { isIP, connect as tcpConnect, type Socket } from 'node:net'
import { checkServerIdentity, connect as tlsConnect, type TLSSocket } from 'node:tls'
import { NO_PROXY_SETTINGS, type ProxySettings, routeFor } from '../proxy'
import { classifySocketError, type Failure } from '../socket-failure'
import { openTunnel } from '../tunnel'

export { classifySocketError, type Failure, type FailureKind } from '../socket-failure'

/** A TCP connection attempt: open (with the address reached) or failed. */
export type Reach = { kind: 'open'; address: string } | Failure

/** Runs `attempt` with a deadline; a missed deadline is a `timeout` failure. */
function withDeadline<T>(
  timeoutMs: number,
  attempt: (settle: (r: T | Failure) => void) => Socket,
): Promise<T | Failure> {
  return new Promise((resolve) => {
    let done = false
    let socket: Socket | undefined
    const settle = (r: T | Failure) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket?.destroy()
      resolve(r)
    }
    const timer = setTimeout(
      () => settle({ kind: 'timeout', code: 'ETIMEDOUT', message: `no answer within ${timeoutMs} ms` }),
      timeoutMs,
    )
    try {
      socket = attempt(settle)
      socket.on('error', (err) => settle(classifySocketError(err)))
    } catch (err) {
      // A port the socket API refuses outright (0, say) is a failure to report, not a crash.
      settle(classifySocketError(err))
    }
  })
}

/** Opens (and at once closes) a TCP connection to host:port. */
export function probeTcp(host: string, port: number, timeoutMs: number): Promise<Reach> {
  return withDeadline<Reach>(timeoutMs, (settle) => {
    const s = tcpConnect({ host, port })
    s.on('connect', () => settle({ kind: 'open', address: s.remoteAddress ?? host }))
    return s
  })
}

/** What the server's certificate says, and whether this client would trust it. */
export interface TlsReport {
  kind: 'certificate'
  /** The chain leads to a trusted CA (ignoring the host name). */
  trusted: boolean
  /** OpenSSL's reason when not trusted, e.g. DEPTH_ZERO_SELF_SIGNED_CERT. */
  trustError: string | undefined
  /** Why the certificate does not cover the host name, or undefined when it does. */
  nameMismatch: string | undefined
  subject: string
  altNames: string
  validFrom: Date
  validTo: Date
  fingerprint256: string
}

/** Completes a TLS handshake with host:port and reports on the certificate without refusing it. */
export function probeTls(
  host: string,
  port: number,
  opts: { ca: string | undefined; timeoutMs: number },
): Promise<TlsReport | Failure> {
  return withDeadline<TlsReport>(opts.timeoutMs, (settle) => {
    const s: TLSSocket = tlsConnect({
      host,
      port,
      ...(isIP(host) ? {} : { servername: host }),
      ...(opts.ca ? { ca: opts.ca } : {}),
      rejectUnauthorized: false,
    })
    s.on('secureConnect', () => {
      const cert = s.getPeerCertificate()
      const trustError = s.authorizationError ? String(s.authorizationError) : undefined
      settle({
        kind: 'certificate',
        // A name mismatch alone is reported on its own; the chain itself is then trusted.
        trusted: s.authorized || trustError === 'ERR_TLS_CERT_ALTNAME_INVALID',
        trustError: trustError === 'ERR_TLS_CERT_ALTNAME_INVALID' ? undefined : trustError,
        nameMismatch: checkServerIdentity(host, cert)?.message,
        subject: [cert.subject?.CN ?? ''].flat().join(', '),
        altNames: cert.subjectaltname ?? '',
        validFrom: new Date(cert.valid_from),
        validTo: new Date(cert.valid_to),
        fingerprint256: cert.fingerprint256,
      })
    })
    return s
  })
}

/** The answer to a WebSocket upgrade request. */
export interface HandshakeReply {
  kind: 'reply'
  status: number
  /** 101 with the right Sec-WebSocket-Accept: a real WebSocket endpoint. */
  upgraded: boolean
  /** The JSON error message of a refusal, if the server sent one. */
  message: string | undefined
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

/** A host-name check replaced by the pin's, as in the clients' `tlsOptions`. */
function pinCheck(pin: string) {
  return (_host: string, cert: { fingerprint256?: string }) =>
    cert.fingerprint256 === pin
      ? undefined
      : new Error(`certificate fingerprint ${cert.fingerprint256 ?? 'unknown'} is not the pinned ${pin}`)
}

/** Sends one WebSocket upgrade request to `url` and reads the status of the answer, then hangs up. */
export async function probeWebSocket(
  url: string,
  opts: {
    token: string | undefined
    ca: string | undefined
    /** A pinned certificate's SHA-256: checked instead of the host name, as the clients do. */
    pin?: string | undefined
    timeoutMs: number
    proxy?: ProxySettings | undefined
  },
): Promise<HandshakeReply | Failure> {
  const u = new URL(url)
  const secure = u.protocol === 'wss:'
  const host = u.hostname.replace(/^\[|\]$/g, '')
  const port = Number(u.port || (secure ? 443 : 80))
  const key = randomBytes(16).toString('base64')
  const expect = createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64')
  const request = [
    `GET ${u.pathname} HTTP/1.1`,
    `Host: ${u.host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
    ...(opts.token ? [`Authorization: Bearer ${opts.token}`] : []),
    '',
    '',
  ].join('\r\n')
  const route = routeFor(opts.proxy ?? NO_PROXY_SETTINGS, url)
  let tunnel: Socket | undefined
  if (route.kind === 'proxy') {
    const t = await openTunnel(route.proxy, host, port, opts.timeoutMs)
    if (t.kind === 'answer')
      return {
        kind: 'other',
        code: `proxy ${t.status}`,
        message: `the proxy answered CONNECT with ${t.status} ${t.text}`,
      }
    if (t.kind !== 'tunnel') return t
    tunnel = t.socket
  }
  return withDeadline<HandshakeReply>(opts.timeoutMs, (settle) => {
    const s: Socket = secure
      ? tlsConnect({
          // Through a tunnel the socket's peer is the proxy: `host` names whom the certificate must match.
          ...(tunnel ? { socket: tunnel, host } : { host, port }),
          ...(isIP(host) ? {} : { servername: host }),
          ...(opts.ca ? { ca: opts.ca } : {}),
          ...(opts.pin ? { checkServerIdentity: pinCheck(opts.pin) } : {}),
        })
      : (tunnel ?? tcpConnect({ host, port }))
    if (tunnel && !secure) s.write(request)
    else s.once(secure ? 'secureConnect' : 'connect', () => s.write(request))
    let head = ''
    s.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1')
      const end = head.indexOf('\r\n\r\n')
      if (end < 0 && head.length < 64 * 1024) return
      // A refusal's JSON body may come in the same chunk; read what is there, wait for no more.
      settle(parseReply(head, end, expect))
    })
    s.on('end', () =>
      settle(
        head
          ? parseReply(head, head.indexOf('\r\n\r\n'), expect)
          : {
              kind: 'reset',
              code: 'ConnectionClosed',
              message: 'the server closed the connection without an answer',
            },
      ),
    )
    return s
  })
}

function parseReply(text: string, headEnd: number, expectAccept: string): HandshakeReply | Failure {
  const head = headEnd < 0 ? text : text.slice(0, headEnd)
  const m = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(head)
  if (!m) {
    return {
      kind: 'other',
      code: 'not_http',
      message: `the server did not answer in HTTP: ${JSON.stringify(head.slice(0, 40))}`,
    }
  }
  const status = Number(m[1])
  const accept = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(head)?.[1]
  let message: string | undefined
  try {
    const body = JSON.parse(text.slice(headEnd + 4)) as { error?: { message?: unknown } }
    if (typeof body.error?.message === 'string') message = body.error.message
  } catch {
    // Not a JSON error body (or not all of it arrived): the status says enough.
  }
  return { kind: 'reply', status, upgraded: status === 101 && accept === expectAccept, message }
}
