import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/** A self-signed certificate and its key, as PEM. */
export interface TestCert {
  cert: string
  key: string
  /** Where the certificate is on disk (for --ca-cert). */
  certPath: string
}

/** Makes a self-signed P-256 certificate for `names` (DNS names or IP addresses) with openssl. */
export function selfSigned(dir: string, file: string, names: string[]): TestCert {
  const certPath = join(dir, `${file}.crt`)
  const keyPath = join(dir, `${file}.key`)
  const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',')
  const r = Bun.spawnSync(
    [
      'openssl',
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${names[0] ?? 'test'}`,
      '-addext',
      `subjectAltName=${san}`,
      '-keyout',
      keyPath,
      '-out',
      certPath,
    ],
    { stdout: 'pipe', stderr: 'pipe' },
  )
  if (r.exitCode !== 0) throw new Error(`openssl failed: ${r.stderr.toString()}`)
  return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8'), certPath }
}
