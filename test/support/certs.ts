import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** Runs openssl (a real, independent tool) in `dir`; the arguments are one string split on spaces. */
function openssl(dir: string, args: string): void {
  const argv = args.split(' ')
  const r = Bun.spawnSync(['openssl', ...argv], { cwd: dir, stdout: 'pipe', stderr: 'pipe' })
  if (r.exitCode !== 0) throw new Error(`openssl ${args} failed: ${r.stderr.toString()}`)
}

const NEW_EC_KEY = '-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes'

/** A private CA in `dir`: `ca.pem` (certificate) and `ca.key`. */
export function testCa(dir: string): { ca: string; key: string } {
  openssl(dir, `req -x509 ${NEW_EC_KEY} -keyout ca.key -out ca.pem -days 30 -subj /CN=Grid-X-test-CA`)
  return { ca: join(dir, 'ca.pem'), key: join(dir, 'ca.key') }
}

/**
 * A server certificate signed by the CA in `dir` for `names` (DNS names or IP addresses), written
 * as `NAME.pem` / `NAME.key`. `days` below 0 makes one that has already expired.
 */
export function testServerCert(
  dir: string,
  name: string,
  names: string[],
  days = 5,
): { cert: string; key: string } {
  const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',')
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`)
  openssl(dir, `req ${NEW_EC_KEY} -keyout ${name}.key -out ${name}.csr -subj /CN=${names[0] ?? name}`)
  openssl(
    dir,
    `x509 -req -in ${name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out ${name}.pem -days ${days} -extfile ${name}.ext`,
  )
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) }
}

/** A self-signed certificate and its key, as PEM, and where the certificate is on disk. */
export interface SelfSigned {
  cert: string
  key: string
  certPath: string
}

/** A self-signed certificate in `dir` for `names` (DNS names or IP addresses), as `FILE.crt` / `FILE.key`. */
export function selfSigned(dir: string, file: string, names: string[]): SelfSigned {
  const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',')
  openssl(
    dir,
    `req -x509 ${NEW_EC_KEY} -days 2 -subj /CN=${names[0] ?? file} -addext subjectAltName=${san} -keyout ${file}.key -out ${file}.crt`,
  )
  return {
    cert: readFileSync(join(dir, `${file}.crt`), 'utf8'),
    key: readFileSync(join(dir, `${file}.key`), 'utf8'),
    certPath: join(dir, `${file}.crt`),
  }
}
