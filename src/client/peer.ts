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
      const c = socket.getPeerCertificate()
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
      })
    })
  })
}
