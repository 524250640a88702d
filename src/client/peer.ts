import { X509Certificate } from 'node:crypto'
import { isIP } from 'node:net'
import { connect } from 'node:tls'
import { parseAltNames } from '../tls/pem'

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
 * reached within `timeoutMs`. Nothing is sent over the connection.
 */
export function probeCertificate(
  host: string,
  port: number,
  timeoutMs = 3000,
): Promise<PeerCertificate | undefined> {
  const bare = host.replace(/^\[|\]$/g, '')
  return new Promise((resolve) => {
    const socket = connect({
      host: bare,
      port,
      rejectUnauthorized: false,
      ...(isIP(bare) ? {} : { servername: bare }),
    })
    const done = (v: PeerCertificate | undefined) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(v)
    }
    const timer = setTimeout(() => done(undefined), timeoutMs)
    socket.once('error', () => done(undefined))
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
