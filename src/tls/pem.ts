import type { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { GridError } from '../errors'

/** A PEM file of one or more certificates, read and parsed. */
export interface CertificateFile {
  path: string
  /** The file's text, as Bun's `tls` options take it. */
  pem: string
  /** Each certificate in the file, in order (a server's own certificate first). */
  certs: X509Certificate[]
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g
const KEY_BLOCK = /-----BEGIN [A-Z ]*PRIVATE KEY-----/

/** Reads a file for `what` (e.g. "--ca-cert"), with an error that names both when it cannot. */
export function readPemFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    const code = (err as { code?: string }).code
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied (check the file mode and owner)'
          : code === 'EISDIR'
            ? 'it is a directory, not a file'
            : (err as Error).message
    throw new GridError('bad_tls_file', `${what} ${path}: cannot read it: ${why}`, { cause: err })
  }
}

/** Reads and parses a PEM certificate file (a certificate or a chain); refuses anything else clearly. */
export function readCertificateFile(path: string, what: string): CertificateFile {
  const pem = readPemFile(path, what)
  const blocks = pem.match(CERT_BLOCK) ?? []
  if (blocks.length === 0) {
    const hint = KEY_BLOCK.test(pem)
      ? 'it holds a private key, not a certificate: give the certificate file (and keep the key secret)'
      : "it has no '-----BEGIN CERTIFICATE-----' block: give a PEM certificate file (convert DER with 'openssl x509 -inform der -in FILE -out FILE.pem')"
    throw new GridError('bad_tls_file', `${what} ${path} is not a PEM certificate: ${hint}`)
  }
  // node:crypto costs a client's start ~1.5 ms of CPU: it loads only when a certificate is read.
  const { X509Certificate } = process.getBuiltinModule('node:crypto')
  const certs = blocks.map((block, i) => {
    try {
      return new X509Certificate(block)
    } catch (err) {
      throw new GridError(
        'bad_tls_file',
        `${what} ${path}: certificate ${i + 1} of the file is damaged (${(err as Error).message}): get a fresh copy of it`,
        { cause: err },
      )
    }
  })
  return { path, pem, certs }
}

/** The names in an OpenSSL-style alt-name list ("DNS:a, IP Address:1.2.3.4"), IPv6 written short. */
export function parseAltNames(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((s) => /^(?:DNS:|IP Address:)(.+)$/.exec(s.trim())?.[1]?.trim())
    .filter((s): s is string => s !== undefined)
    .map((s) => (s.includes(':') ? new URL(`http://[${s}]`).hostname.slice(1, -1) : s))
}

/** The host names and IP addresses a certificate is valid for (its SANs, else its CN). */
export function certificateNames(cert: X509Certificate): string[] {
  const sans = parseAltNames(cert.subjectAltName)
  if (sans.length) return sans
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1]
  return cn ? [cn] : []
}
