import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { X509Certificate } from 'node:crypto'
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { certificateNames } from '../../src/tls/pem'
import { ensureSelfSigned, selfSignedNames } from '../../src/tls/self-signed'
import { loadServerTls } from '../../src/tls/server-cert'
import { tempDir } from '../e2e/harness'
import { failure } from '../support/failure'
import { testCa, testServerCert } from '../support/certs'

let dir: string
let good: { cert: string; key: string }
let other: { cert: string; key: string }

beforeAll(() => {
  dir = tempDir('tls-certs')
  testCa(dir)
  good = testServerCert(dir, 'good', ['localhost', '127.0.0.1'])
  other = testServerCert(dir, 'other', ['other.example'])
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('loadServerTls', () => {
  test('a certificate and its own key: names, no warnings, not self-signed (a CA issued it)', () => {
    const tls = loadServerTls(good.cert, good.key)
    expect(certificateNames(tls.leaf)).toEqual(['localhost', '127.0.0.1'])
    expect(tls.selfSigned).toBe(false)
    expect(tls.warnings).toEqual([])
    expect(tls.cert).toBe(readFileSync(good.cert, 'utf8'))
    expect(tls.key).toBe(readFileSync(good.key, 'utf8'))
  })

  test('a key that does not match the certificate is refused, naming both files', () => {
    const err = failure(() => loadServerTls(good.cert, other.key))
    expect(err.code).toBe('tls_key_mismatch')
    expect(err.message).toStartWith(
      `--tls-key ${other.key} does not belong to the certificate in --tls-cert ${good.cert} (`,
    )
    expect(err.message).toEndWith('give the key that certificate was issued for')
  })

  test('a missing file names the flag and the path', () => {
    expect(failure(() => loadServerTls(join(dir, 'nope.pem'), good.key)).message).toBe(
      `--tls-cert ${join(dir, 'nope.pem')}: cannot read it: no such file`,
    )
    expect(failure(() => loadServerTls(good.cert, join(dir, 'nope.key'))).message).toBe(
      `--tls-key ${join(dir, 'nope.key')}: cannot read it: no such file`,
    )
  })

  // Root reads every file, whatever its mode.
  test.skipIf(process.getuid?.() === 0)('an unreadable key file says permission denied', () => {
    const locked = join(dir, 'locked.key')
    writeFileSync(locked, readFileSync(good.key), { mode: 0o000 })
    expect(failure(() => loadServerTls(good.cert, locked)).message).toContain('permission denied')
  })

  test('PEM that is not a certificate, and swapped files, are refused with what to do', () => {
    expect(failure(() => loadServerTls(good.key, good.key)).message).toBe(
      `--tls-cert ${good.key} is not a PEM certificate: it holds a private key, not a certificate: give the certificate file (and keep the key secret)`,
    )
    expect(failure(() => loadServerTls(good.cert, good.cert)).message).toBe(
      `--tls-key ${good.cert} is not a PEM private key: it holds a certificate, not a private key (are --tls-cert and --tls-key swapped?)`,
    )
    const junk = join(dir, 'junk.pem')
    writeFileSync(junk, 'not pem at all')
    expect(failure(() => loadServerTls(junk, good.key)).message).toContain(
      "it has no '-----BEGIN CERTIFICATE-----' block",
    )
  })

  test('a passphrase-protected key is refused with the command that decrypts it', () => {
    const enc = join(dir, 'enc.key')
    const r = Bun.spawnSync(
      ['openssl', 'pkey', '-in', good.key, '-aes256', '-passout', 'pass:secret', '-out', enc],
      { stderr: 'pipe' },
    )
    expect(r.exitCode).toBe(0)
    const err = failure(() => loadServerTls(good.cert, enc))
    expect(err.message).toContain('is protected by a passphrase')
    expect(err.message).toContain(`openssl pkey -in ${enc}`)
  })

  test('an expired certificate loads, with a warning that clients will refuse it', () => {
    const old = testServerCert(dir, 'old', ['localhost'], -1)
    const tls = loadServerTls(old.cert, old.key)
    expect(tls.warnings).toHaveLength(1)
    expect(tls.warnings[0]).toStartWith(`the certificate in ${old.cert} (for localhost) expired on `)
    expect(tls.warnings[0]).toEndWith('clients will refuse to connect until it is renewed')
  })
})

describe('self-signed certificates', () => {
  test('selfSignedNames covers loopback, the host name and extra names, once each', () => {
    const names = selfSignedNames(['grid.example', 'localhost'])
    expect(names.slice(0, 4)).toEqual(['localhost', '127.0.0.1', '::1', hostname()])
    expect(names).toContain('grid.example')
    expect(names.filter((n) => n === 'localhost')).toHaveLength(1)
    expect(names.some((n) => n.toLowerCase().startsWith('fe80:'))).toBe(false)
  })

  test('made once with a 0600 key, then reused; a TLS client trusting the file connects', async () => {
    const tlsDir = join(dir, 'self')
    const names = ['localhost', '127.0.0.1', '::1', 'grid.example']
    const first = await ensureSelfSigned(tlsDir, names)
    expect(first.created).toBe(true)
    expect(first.missing).toEqual([])
    expect(statSync(first.keyPath).mode & 0o777).toBe(0o600)
    expect(certificateNames(first.cert)).toEqual(names)
    const again = await ensureSelfSigned(tlsDir, [...names, 'new.example'])
    expect(again.created).toBe(false)
    expect(again.cert.fingerprint256).toBe(first.cert.fingerprint256)
    expect(again.missing).toEqual(['new.example'])

    const tls = loadServerTls(first.certPath, first.keyPath)
    expect(tls.selfSigned).toBe(true)
    expect(tls.warnings).toEqual([])
    const x = new X509Certificate(readFileSync(first.certPath))
    expect(x.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1')
    const server = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      tls: { cert: tls.cert, key: tls.key },
      fetch: () => new Response('over tls'),
    })
    try {
      const trusted = await fetch(`https://localhost:${server.port}/`, { tls: { ca: tls.cert } })
      expect(await trusted.text()).toBe('over tls')
      const untrusted = await fetch(`https://127.0.0.1:${server.port}/`).catch((e: unknown) => e)
      expect((untrusted as { code?: string }).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT')
    } finally {
      await server.stop(true)
    }
  })
})
