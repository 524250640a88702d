import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto'
import { rootCertificates } from 'node:tls'
import { GridError } from '../errors'
import { certificateNames, readCertificateFile, readPemFile } from './pem'

/** A coordinator's certificate and key, checked and ready for `Bun.serve({ tls })`. */
export interface ServerTls {
  certPath: string
  keyPath: string
  cert: string
  key: string
  /** The coordinator's own certificate (the first of the file). */
  leaf: X509Certificate
  /** True when the certificate signed itself: clients must be told to trust exactly this file. */
  selfSigned: boolean
  /** True when a CA this machine's TLS stack trusts by default issued the chain (a public CA). */
  publiclyTrusted: boolean
  /** Who issued the chain's last certificate (a private CA's name, for the start-up hints). */
  issuer: string
  /** Problems that do not stop the coordinator but will stop clients (expired, not yet valid). */
  warnings: string[]
}

function privateKey(pem: string, path: string): KeyObject {
  const what = `--tls-key ${path}`
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem)) {
    throw new GridError(
      'bad_tls_file',
      `${what} is protected by a passphrase, which gridx cannot ask for: write an unencrypted copy readable only by the coordinator's user ('openssl pkey -in ${path} -out coordinator.key' and chmod 600 it)`,
    )
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    const hint = pem.includes('-----BEGIN CERTIFICATE-----')
      ? 'it holds a certificate, not a private key (are --tls-cert and --tls-key swapped?)'
      : "it has no '-----BEGIN PRIVATE KEY-----' block: give the PEM private key the certificate was issued for"
    throw new GridError('bad_tls_file', `${what} is not a PEM private key: ${hint}`)
  }
  try {
    return createPrivateKey(pem)
  } catch (err) {
    throw new GridError(
      'bad_tls_file',
      `${what} is damaged (${(err as Error).message}): get a fresh copy of it`,
      { cause: err },
    )
  }
}

/** Reads and checks `--tls-cert` / `--tls-key`: both readable, a certificate and its own key. */
export function loadServerTls(certPath: string, keyPath: string, now = Date.now()): ServerTls {
  const file = readCertificateFile(certPath, '--tls-cert')
  const leaf = file.certs[0]!
  const keyPem = readPemFile(keyPath, '--tls-key')
  const key = privateKey(keyPem, keyPath)
  if (!leaf.checkPrivateKey(key)) {
    throw new GridError(
      'tls_key_mismatch',
      `--tls-key ${keyPath} does not belong to the certificate in --tls-cert ${certPath} (${leaf.subject.replace(/\n/g, ', ')}): give the key that certificate was issued for`,
    )
  }
  const warnings: string[] = []
  const names = certificateNames(leaf).join(', ')
  if (Date.parse(leaf.validTo) < now) {
    warnings.push(
      `the certificate in ${certPath} (for ${names}) expired on ${leaf.validTo}: clients will refuse to connect until it is renewed`,
    )
  } else if (Date.parse(leaf.validFrom) > now) {
    warnings.push(
      `the certificate in ${certPath} is not valid before ${leaf.validFrom}: clients will refuse it until then (or check this machine's clock)`,
    )
  }
  const top = file.certs[file.certs.length - 1]!
  return {
    certPath,
    keyPath,
    cert: file.pem,
    key: keyPem,
    leaf,
    selfSigned: signedBy(leaf, leaf),
    publiclyTrusted: publiclyTrusted(top),
    issuer: top.issuer.replace(/\n/g, ', '),
    warnings,
  }
}

function signedBy(cert: X509Certificate, by: X509Certificate): boolean {
  return cert.checkIssued(by) && cert.verify(by.publicKey)
}

/** Whether one of the default root CAs (Bun's bundled list) issued `top`, the last certificate served. */
function publiclyTrusted(top: X509Certificate): boolean {
  return rootCertificates.some((pem) => {
    const root = new X509Certificate(pem)
    return root.fingerprint256 === top.fingerprint256 || signedBy(top, root)
  })
}
