import { X509Certificate } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { hostname, networkInterfaces } from 'node:os'
import { join } from 'node:path'

/** Where a generated certificate lives, and what it covers. */
export interface SelfSigned {
  certPath: string
  keyPath: string
  cert: X509Certificate
  /** True when this call made it; false when an earlier one was reused. */
  created: boolean
  /** Requested names the (reused) certificate does not cover. */
  missing: string[]
}

/** How long a generated certificate stays valid: clients pin it, so replacing it is a chore. */
const VALID_DAYS = 5 * 365

/**
 * The names a quick-start certificate should cover: loopback, this machine's host name and
 * every address other machines may use to reach it, plus any given ones.
 */
export function selfSignedNames(extra: string[] = []): string[] {
  const names = ['localhost', '127.0.0.1', '::1', hostname()]
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      // Link-local IPv6 needs a zone (%eth0) that no certificate can name.
      if (!a.internal && !a.address.toLowerCase().startsWith('fe80:')) names.push(a.address)
    }
  }
  return [...new Set([...names, ...extra].map((n) => n.trim()).filter(Boolean))]
}

/** tsyringe (inside @peculiar/x509) insists on the Reflect metadata API; a map per object is all it needs. */
function reflectMetadata(): void {
  const r = Reflect as unknown as Record<string, unknown>
  if (typeof r['getMetadata'] === 'function') return
  const meta = new WeakMap<object, Map<unknown, unknown>>()
  const own = (key: unknown, target: object) => meta.get(target)?.get(key)
  r['defineMetadata'] = (key: unknown, value: unknown, target: object) => {
    const m = meta.get(target) ?? new Map<unknown, unknown>()
    meta.set(target, m.set(key, value))
  }
  r['getOwnMetadata'] = own
  r['getMetadata'] = (key: unknown, target: object) => {
    for (let t: object | null = target; t; t = Object.getPrototypeOf(t) as object | null) {
      const v = own(key, t)
      if (v !== undefined) return v
    }
    return undefined
  }
}

/** Makes a self-signed ECDSA P-256 certificate for `names`; returns PEM certificate and PKCS#8 key. */
export async function generateSelfSigned(
  names: string[],
  now = new Date(),
): Promise<{ cert: string; key: string }> {
  reflectMetadata()
  const x509 = await import('@peculiar/x509')
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }
  const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify'])
  const first = names.find((n) => !isIP(n)) ?? names[0] ?? 'localhost'
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${first.replace(/[,+="\\<>;#]/g, '')}, O=Grid-X self-signed`,
    notBefore: new Date(now.getTime() - 60 * 60_000), // tolerate clients whose clocks run behind
    notAfter: new Date(now.getTime() + VALID_DAYS * 86_400_000),
    keys,
    signingAlgorithm: alg,
    extensions: [
      // It is its own CA so that clients can trust exactly this file with --ca-cert.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        names.map((n) => ({ type: isIP(n) ? ('ip' as const) : ('dns' as const), value: n })),
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  })
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey)
  return { cert: cert.toString('pem'), key: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') }
}

/**
 * The coordinator's quick-start certificate in `dir`: made once (key mode 0600), then reused so
 * that clients which trust it keep working across restarts.
 */
export async function ensureSelfSigned(dir: string, names: string[], now = new Date()): Promise<SelfSigned> {
  const certPath = join(dir, 'self-signed.pem')
  const keyPath = join(dir, 'self-signed.key')
  let created = false
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    const made = await generateSelfSigned(names, now)
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    writeFileSync(keyPath, made.key, { mode: 0o600 })
    chmodSync(keyPath, 0o600) // an existing file keeps its mode otherwise
    writeFileSync(certPath, made.cert, { mode: 0o644 })
    created = true
  }
  const cert = new X509Certificate(readFileSync(certPath))
  const missing = names.filter((n) => (isIP(n) ? !cert.checkIP(n) : !cert.checkHost(n)))
  return { certPath, keyPath, cert, created, missing }
}
