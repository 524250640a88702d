import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync, rmSync } from 'node:fs'
import type { Server } from 'bun'
import { parseCoordinator } from '../../src/client/address'
import { ApiClient } from '../../src/client/api'
import { streamOutput } from '../../src/cli/render'
import { GridError } from '../../src/errors'
import { connectionError, networkError } from '../../src/client/network'
import { probeCertificate } from '../../src/client/peer'
import { ensureSelfSigned } from '../../src/tls/self-signed'
import { tempDir } from '../e2e/harness'
import { testCa, testServerCert } from '../support/certs'

const ports = { httpPort: 8081, wsPort: 8080 }

let dir: string
let ca: string
const servers: Server<undefined>[] = []

/** An HTTPS server on a free loopback port with the given certificate files. */
function tlsServer(files: { cert: string; key: string }): number {
  const s = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    tls: { cert: readFileSync(files.cert, 'utf8'), key: readFileSync(files.key, 'utf8') },
    fetch: () => new Response('ok'),
  })
  servers.push(s)
  return s.port!
}

/** What a real fetch from `url` (trusting `caPem`) fails with, explained. */
async function failureOf(url: string, caFile?: string) {
  const addr = parseCoordinator(url, ports)
  const caPem = caFile ? readFileSync(caFile, 'utf8') : undefined
  const err = await fetch(`${addr.httpUrl}/health`, caPem ? { tls: { ca: caPem } } : {}).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeDefined()
  return connectionError(err, addr, addr.httpPort, { caPath: caFile })
}

beforeAll(() => {
  dir = tempDir('network')
  ca = testCa(dir).ca
})
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop(true)))
  rmSync(dir, { recursive: true, force: true })
})

describe('networkError: plain network failures name host, port, cause and fix', () => {
  const addr = parseCoordinator('grid.lan', ports)
  test('refused: not running, wrong port, bound to 127.0.0.1, firewall', () => {
    const e = networkError({ code: 'ECONNREFUSED' }, addr, 8081)
    expect(e.code).toBe('coordinator_unreachable')
    expect(e.retryable).toBe(true)
    expect(e.message).toBe(
      "cannot reach the coordinator at grid.lan:8081: connection refused (nothing is listening there). Is 'gridx serve' running on grid.lan, and is 8081 its port? If it runs on another machine, make sure it was not started with --host 127.0.0.1 and that its firewall lets port 8081 in.",
    )
  })
  test('timeout points at a firewall; unknown names at spelling', () => {
    expect(networkError({ name: 'TimeoutError' }, addr, 8080).message).toContain(
      'timed out (no answer at all). A firewall is probably dropping traffic to port 8080',
    )
    expect(networkError({ name: 'TimeoutError' }, addr, 8080).message).not.toContain('PROXY')
    // Went direct for want of a proxy variable: the timeout may be a network that lets out only a proxy.
    const direct = { kind: 'direct', why: 'no HTTPS_PROXY set', unset: 'HTTPS_PROXY' } as const
    expect(networkError({ name: 'TimeoutError' }, addr, 8080, { route: direct }).message).toContain(
      'If this network lets connections out only through a proxy (corporate, university), set HTTPS_PROXY=http://PROXY:PORT (it is not set here).',
    )
    const excepted = { kind: 'direct', why: 'NO_PROXY: grid.lan' } as const
    expect(networkError({ name: 'TimeoutError' }, addr, 8080, { route: excepted }).message).not.toContain(
      'HTTPS_PROXY',
    )
    expect(networkError({ code: 'ENOTFOUND' }, addr, 8081).message).toContain(
      "the name 'grid.lan' does not resolve. Check the spelling",
    )
  })
  test('TLS failures are not retryable: waiting does not fix a certificate', () => {
    for (const code of [
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      'ERR_TLS_CERT_ALTNAME_INVALID',
      'CERT_HAS_EXPIRED',
      'EPROTO',
    ]) {
      const e = networkError({ code }, parseCoordinator('https://grid.lan:8081', ports), 8081)
      expect(e.retryable).toBe(false)
      expect(e.message).toStartWith('cannot connect securely to the coordinator at grid.lan:8081: ')
    }
  })
})

describe('connectionError against real TLS servers', () => {
  test('a self-signed certificate: untrusted, says --ca-cert FILE or GRIDX_CA_CERT, shows the fingerprint', async () => {
    const self = await ensureSelfSigned(`${dir}/self`, ['localhost', '127.0.0.1'])
    const port = tlsServer({ cert: self.certPath, key: self.keyPath })
    const e = await failureOf(`https://127.0.0.1:${port}`)
    expect(e.code).toBe('tls_untrusted')
    expect(e.message).toBe(
      `cannot connect securely to the coordinator at 127.0.0.1:${port}: its TLS certificate is not trusted (it is self-signed). If you trust this coordinator, pass its certificate or its CA's with --ca-cert FILE (or GRIDX_CA_CERT=FILE); 'gridx serve' prints which file to copy. Its SHA-256 fingerprint is ${self.cert.fingerprint256}: compare it with the one 'gridx serve' printed.`,
    )
    // Trusting some other file does not help, and the message says that file was the wrong one.
    const wrong = await failureOf(`https://127.0.0.1:${port}`, ca)
    expect(wrong.message).toContain(
      `not trusted even with --ca-cert ${ca} (it is self-signed; that file did not sign it)`,
    )
  })

  test('a private CA nobody trusts: names the issuer', async () => {
    const port = tlsServer(testServerCert(dir, 'srv', ['localhost', '127.0.0.1']))
    const e = await failureOf(`https://127.0.0.1:${port}`)
    expect(e.code).toBe('tls_untrusted')
    expect(e.message).toContain('it was issued by CN=Grid-X-test-CA, whom this machine does not trust')
  })

  test('a certificate for another host name names both', async () => {
    const port = tlsServer(testServerCert(dir, 'elsewhere', ['grid.example.org', '10.9.8.7']))
    const e = await failureOf(`https://127.0.0.1:${port}`, ca)
    expect(e.code).toBe('tls_wrong_host')
    expect(e.message).toBe(
      `cannot connect securely to the coordinator at 127.0.0.1:${port}: its TLS certificate is for grid.example.org, 10.9.8.7, not for '127.0.0.1'. Connect with a name it covers (e.g. --coordinator https://grid.example.org:${port}), or have the operator add '127.0.0.1' to the certificate (for --self-signed: --tls-san 127.0.0.1).`,
    )
  })

  test('an expired certificate says so, with the date', async () => {
    const files = testServerCert(dir, 'expired', ['127.0.0.1'], -1)
    const port = tlsServer(files)
    const e = await failureOf(`https://127.0.0.1:${port}`, ca)
    expect(e.code).toBe('tls_expired')
    expect(e.message).toMatch(/its TLS certificate expired on \w{3} .+ GMT: the operator must renew it/)
  })

  test('https at a plain HTTP port, and plain HTTP at an HTTPS port: says which scheme to use', async () => {
    const plain = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('plain') })
    servers.push(plain)
    const toPlain = await failureOf(`https://127.0.0.1:${plain.port}`)
    expect(toPlain.code).toBe('tls_mismatch')
    expect(toPlain.message).toContain(
      `nothing there speaks HTTPS. If the coordinator serves plain HTTP, use --coordinator http://127.0.0.1:${plain.port}`,
    )
    const port = tlsServer(testServerCert(dir, 'srv2', ['127.0.0.1']))
    const toTls = await failureOf(`127.0.0.1:${port}`)
    expect(toTls.code).toBe('tls_mismatch')
    expect(toTls.message).toContain(
      `serves HTTPS (TLS) and this client spoke plain HTTP: use --coordinator https://127.0.0.1:${port}`,
    )
  })

  test('probeCertificate reads a certificate without trusting it, and gives up on plain ports', async () => {
    const port = tlsServer(testServerCert(dir, 'probe', ['probe.example', '::1']))
    const peer = await probeCertificate('127.0.0.1', port)
    expect(peer?.names).toEqual(['probe.example', '::1'])
    expect(peer?.selfSigned).toBe(false)
    expect(peer?.issuer).toBe('CN=Grid-X-test-CA')
    const plain = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('plain') })
    servers.push(plain)
    expect(await probeCertificate('127.0.0.1', plain.port!)).toBeUndefined()
  })
})

describe('ApiClient: failures that waiting can fix are retryable, others fail at once', () => {
  test('a proxy answering 502 without a Grid-X body: the coordinator behind it is down (retryable)', async () => {
    const proxy = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch: () => new Response('<html>502 Bad Gateway</html>', { status: 502 }),
    })
    servers.push(proxy)
    const api = new ApiClient(parseCoordinator(`127.0.0.1:${proxy.port}`, ports))
    const err = await api.health().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(GridError)
    expect((err as GridError).retryable).toBe(true)
    expect((err as GridError).message).toStartWith(
      `the proxy at 127.0.0.1:${proxy.port} answered HTTP 502: the coordinator behind it is not running or the proxy cannot reach it.`,
    )
    expect(api.reached).toBe(true)
  })

  test('logs -f on a coordinator never reached fails at once with the cause, instead of retrying', async () => {
    const api = new ApiClient(parseCoordinator('127.0.0.1:1', ports), 'token')
    const err = await streamOutput(api, 'job1', { follow: true, quiet: true }).catch((e: unknown) => e)
    expect((err as GridError).code).toBe('coordinator_unreachable')
    expect((err as GridError).message).toContain(
      'cannot reach the coordinator at 127.0.0.1:1: connection refused',
    )
    expect(api.reached).toBe(false)
  })
})
