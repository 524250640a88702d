import { X509Certificate } from 'node:crypto'
import { isIP, type Socket } from 'node:net'
import { connect } from 'node:tls'
import { GridError } from '../errors'
import { parseAltNames } from '../tls/pem'
import { classifySocketError, type FailureKind } from './socket-failure'
import { openTunnel, type Tunnel } from './tunnel'
import type { ProxyUrl } from './proxy'
import { proxyFailure } from './proxy-errors'

/** What a server's certificate says, read without trusting it (to explain why it was refused). */
export interface PeerCertificate {
  /** Host names and addresses it is valid for. */
  names: string[]
  validTo: string
  issuer: string
  selfSigned: boolean
  fingerprint: string
  /** PEM of the certificate the served chain ends in, when that one signed itself (else undefined). */
  anchor?: string | undefined
}

/** The shape of Node's detailed peer certificate that this module reads. */
interface ChainLink {
  raw?: Buffer
  issuerCertificate?: ChainLink
  fingerprint256?: string
}

function pem(der: Buffer): string {
  const b64 =
    der
      .toString('base64')
      .match(/.{1,64}/g)
      ?.join('\n') ?? ''
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`
}

/** The self-signed root at the end of the served chain, as PEM, if the server sent one. */
function selfSignedAnchor(leaf: ChainLink): string | undefined {
  let link = leaf
  for (let depth = 0; depth < 10 && link.raw; depth++) {
    const up = link.issuerCertificate
    if (!up || up === link || up.fingerprint256 === link.fingerprint256 || !up.raw) {
      const cert = new X509Certificate(link.raw)
      return cert.checkIssued(cert) && cert.verify(cert.publicKey) ? pem(link.raw) : undefined
    }
    link = up
  }
  return undefined
}

function dn(entry: unknown): string {
  if (!entry || typeof entry !== 'object') return ''
  return Object.entries(entry as Record<string, unknown>)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(', ')
}

/**
 * Opens a TLS connection that accepts any certificate, only to read it: the names it covers,
 * who issued it, its expiry. Resolves undefined when the port does not speak TLS or cannot be
 * reached within `timeoutMs`. Nothing is sent over the connection. With `proxy`, it goes through
 * that proxy's CONNECT tunnel, as the API and worker socket do (the only way out on some networks).
 */
export async function probeCertificate(
  host: string,
  port: number,
  timeoutMs = 3000,
  proxy?: ProxyUrl,
): Promise<PeerCertificate | undefined> {
  const r = await readPeerCertificate(host, port, timeoutMs, proxy)
  return r instanceof GridError || 'unread' in r ? undefined : r
}

/** Why no certificate could be read at host:port, in words ("connection refused …"). */
export interface Unread {
  unread: string
}

/** Words for the kinds of socket failure a certificate read meets. */
const UNREAD: Partial<Record<FailureKind, string>> = {
  refused: 'connection refused (nothing is listening there)',
  unresolved: 'the name does not resolve',
  unreachable: 'no route to that host',
  reset: 'the connection was reset',
}

/** A socket error of the certificate read, in words. */
function unreadBecause(err: unknown): Unread {
  const f = classifySocketError(err)
  if (/EPROTO|WRONG_VERSION|PACKET_LENGTH/.test(f.code))
    return { unread: 'something answered, but not in TLS (does it serve plain http?)' }
  return { unread: UNREAD[f.kind] ?? `the connection failed (${f.code === 'unknown' ? f.message : f.code})` }
}

/** The failure of a CONNECT tunnel as the clients name it: the proxy's answer, or the proxy not reached. */
function tunnelFailure(t: Exclude<Tunnel, { kind: 'tunnel' }>, proxy: ProxyUrl, host: string, port: number) {
  const err =
    t.kind === 'answer'
      ? new Error(`Proxy refused to open a tunnel: ${t.status} ${t.text}`)
      : Object.assign(new Error(t.message), { code: t.code })
  return (
    proxyFailure(err, proxy, { host }, port) ??
    new GridError(
      'proxy_unreachable',
      `cannot open a tunnel to ${host}:${port} through the proxy ${proxy.shown} (${proxy.from}): ${t.kind === 'answer' ? `HTTP ${t.status}` : t.message}`,
      { retryable: true },
    )
  )
}

/**
 * `probeCertificate`, saying why none was read: a refused or unanswered CONNECT is a GridError
 * naming the proxy; `Unread` says what happened at host:port itself.
 */
export async function readPeerCertificate(
  host: string,
  port: number,
  timeoutMs: number,
  proxy?: ProxyUrl,
): Promise<PeerCertificate | GridError | Unread> {
  const bare = host.replace(/^\[|\]$/g, '')
  if (!proxy) return handshake(bare, port, timeoutMs, undefined)
  const started = Date.now()
  const t = await openTunnel(proxy, bare, port, timeoutMs)
  if (t.kind !== 'tunnel') return tunnelFailure(t, proxy, bare, port)
  return handshake(bare, port, Math.max(1, timeoutMs - (Date.now() - started)), t.socket)
}

function handshake(
  bare: string,
  port: number,
  timeoutMs: number,
  tunnel: Socket | undefined,
): Promise<PeerCertificate | Unread> {
  return new Promise((resolve) => {
    const socket = connect({
      // Through a tunnel the socket's peer is the proxy; the certificate is the coordinator's.
      ...(tunnel ? { socket: tunnel } : { host: bare, port }),
      rejectUnauthorized: false,
      ...(isIP(bare) ? {} : { servername: bare }),
    })
    const done = (v: PeerCertificate | Unread) => {
      clearTimeout(timer)
      socket.destroy()
      tunnel?.destroy()
      resolve(v)
    }
    const timer = setTimeout(
      () => done({ unread: `no TLS answer within ${Math.ceil(timeoutMs / 1000)} s` }),
      timeoutMs,
    )
    socket.once('error', (err) => done(unreadBecause(err)))
    socket.once('secureConnect', () => {
      const c = socket.getPeerCertificate(true)
      const names = parseAltNames(c.subjectaltname)
      const subject = dn(c.subject)
      const issuer = dn(c.issuer)
      const cn = (c.subject as { CN?: string } | undefined)?.CN
      done({
        names: names.length ? names : cn ? [cn] : [],
        validTo: c.valid_to,
        issuer,
        selfSigned: subject === issuer,
        fingerprint: c.fingerprint256,
        anchor: selfSignedAnchor(c),
      })
    })
  })
}
