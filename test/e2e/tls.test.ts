import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { testCa, testServerCert } from '../support/certs'
import { BB_IMAGE, gridx, type Proc, spawnGridx, tempDir } from './harness'

/** A coordinator serving HTTPS/WSS from the binary. */
interface TlsGrid {
  serve: Proc
  httpPort: number
  wsPort: number
}

const SERVE = 'serve --host 127.0.0.1 --http-port 0 --ws-port 0'.split(' ')
const PASSWORD = 'password-123'

let ca: string
let grid: TlsGrid
let wrongHost: TlsGrid
const procs: Proc[] = []
const dirs: string[] = []

function dirFor(prefix: string): string {
  const d = tempDir(prefix)
  dirs.push(d)
  return d
}

/** `gridx serve` with a certificate from the private CA, on free ports; sign-up is open (these tests are about TLS). */
async function startTlsGrid(cert: { cert: string; key: string }): Promise<TlsGrid> {
  const serve = spawnGridx([...SERVE, '--signup', 'open', '--tls-cert', cert.cert, '--tls-key', cert.key], {
    GRIDX_HOME: dirFor('tls-coord'),
  })
  procs.push(serve)
  const m = await serve.waitFor(/API https:\/\/127\.0\.0\.1:(\d+) .*wss:\/\/127\.0\.0\.1:(\d+)\/ws\/worker/)
  return { serve, httpPort: Number(m[1]), wsPort: Number(m[2]) }
}

/** A fresh client home; `trust` adds GRIDX_CA_CERT. */
function client(trust: boolean): Record<string, string> {
  return { GRIDX_HOME: dirFor('tls-user'), ...(trust ? { GRIDX_CA_CERT: ca } : {}) }
}

/** `gridx register|login --coordinator URL --user NAME --password ...` plus `extra` flags. */
function account(
  cmd: 'register' | 'login',
  url: string,
  user: string,
  env: Record<string, string>,
  extra: string[] = [],
) {
  return gridx([cmd, '--coordinator', url, '--user', user, '--password', PASSWORD, ...extra], env)
}

beforeAll(async () => {
  const dir = dirFor('tls-ca')
  ca = testCa(dir).ca
  grid = await startTlsGrid(testServerCert(dir, 'coord', ['localhost', '127.0.0.1']))
  wrongHost = await startTlsGrid(testServerCert(dir, 'elsewhere', ['grid.example.org']))
})
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()))
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('native TLS through the compiled binary', () => {
  test('the banner shows the certificate and tells clients which address to use', async () => {
    // The banner goes on after the listening line the start waits for.
    await grid.serve.waitFor(/its certificate is from a private CA/)
    const banner = grid.serve.stderr()
    expect(banner).toContain('TLS certificate for localhost, 127.0.0.1; valid until ')
    expect(banner).toMatch(/SHA-256 fingerprint ([0-9A-F]{2}:){31}[0-9A-F]{2}/)
    // A private CA's certificate: the address line says clients need that CA (not this file).
    expect(banner).toContain(
      `or by address: gridx login --coordinator https://127.0.0.1:${grid.httpPort} --ca-cert ca.crt --user NAME`,
    )
    expect(banner).toContain('its certificate is from a private CA (CN=Grid-X-test-CA)')
    expect(banner).toMatch(/^ {2}gridx work --join gx1_\S+$/m)
  })

  test('curl --cacert reaches /health over HTTPS on both ports; without the CA it refuses', () => {
    for (const port of [grid.httpPort, grid.wsPort]) {
      const ok = Bun.spawnSync(['curl', '-sS', '--cacert', ca, `https://127.0.0.1:${port}/health`])
      expect(ok.exitCode).toBe(0)
      expect((JSON.parse(ok.stdout.toString()) as { status: string }).status).toBe('ok')
    }
    const refused = Bun.spawnSync(['curl', '-sS', `https://127.0.0.1:${grid.httpPort}/health`])
    expect(refused.exitCode).toBe(60) // curl: peer certificate cannot be authenticated
  })

  test('a worker over wss and a submitter over https, both with the CA, run a job', async () => {
    const alice = client(true)
    const url = `https://127.0.0.1:${grid.httpPort}`
    const reg = await account('register', url, 'alice', alice)
    expect(reg.stderr + reg.stdout).toContain(`registered 'alice' on ${url}`)
    expect(reg.code).toBe(0)
    // The worker names the WebSocket port with wss://, so its socket (and its login) go there.
    const worker = spawnGridx(
      ['work', '--coordinator', `wss://127.0.0.1:${grid.wsPort}`, '--ca-cert', ca, '--name', 'w-tls'].concat([
        '--images',
        'gridx-local/*',
        '--user',
        'alice',
        '--password',
        PASSWORD,
      ]),
      { GRIDX_HOME: dirFor('tls-worker') },
    )
    procs.push(worker)
    await worker.waitFor(/connected to https:\/\/127\.0\.0\.1:\d+ as worker w-tls; waiting for jobs/, 30_000)
    const r = await gridx(
      ['submit', '--coordinator', url, '--image', BB_IMAGE, '--', 'echo', 'over tls'],
      alice,
      {
        timeoutMs: 90_000,
      },
    )
    expect(r.stderr).toContain('running on w-tls')
    expect(r.stdout).toBe('over tls\n')
    expect(r.code).toBe(0)
  })

  test('without --ca-cert, a client is told the certificate is untrusted and how to trust it', async () => {
    const r = await account('login', `https://127.0.0.1:${grid.httpPort}`, 'alice', client(false))
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(
      `gridx: cannot connect securely to the coordinator at 127.0.0.1:${grid.httpPort}: its TLS certificate is not trusted (it was issued by CN=Grid-X-test-CA, whom this machine does not trust). If you trust this coordinator, pass its certificate or its CA's with --ca-cert FILE (or GRIDX_CA_CERT=FILE)`,
    )
  })

  test('a worker with a saved login meets an untrusted certificate: it stops at once, saying how to trust it', async () => {
    // A login saved without the CA (as by a gridx before logins remembered it): the worker's check
    // of its saved login meets the certificate before anything starts.
    const bob = client(true)
    const url = `https://127.0.0.1:${grid.httpPort}`
    expect((await account('register', url, 'bob', bob)).code).toBe(0)
    const file = `${bob.GRIDX_HOME!}/credentials.json`
    const saved = JSON.parse(readFileSync(file, 'utf8')) as {
      logins: Record<string, Record<string, { ca?: unknown }>>
    }
    for (const byUser of Object.values(saved.logins))
      for (const login of Object.values(byUser)) delete login.ca
    writeFileSync(file, JSON.stringify(saved))
    const flags = ['--coordinator', url, '--name', 'w-untrusted', '--images', 'gridx-local/*']
    const r = await gridx(['work', ...flags], { GRIDX_HOME: bob.GRIDX_HOME! })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(
      `gridx: cannot connect securely to the coordinator at 127.0.0.1:${grid.httpPort}: its TLS certificate is not trusted`,
    )
    expect(r.stderr).toContain('--ca-cert FILE (or GRIDX_CA_CERT=FILE)')
  })

  test('a certificate for another host name: the message names both', async () => {
    const r = await account('login', `https://127.0.0.1:${wrongHost.httpPort}`, 'alice', client(true))
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(
      `its TLS certificate is for grid.example.org, not for '127.0.0.1'. Connect with a name it covers (e.g. --coordinator https://grid.example.org:${wrongHost.httpPort})`,
    )
  })

  test('plain http at the HTTPS port says to use https', async () => {
    const r = await account('login', `127.0.0.1:${grid.httpPort}`, 'alice', client(false))
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`use --coordinator https://127.0.0.1:${grid.httpPort}`)
  })

  test("Mozilla's intermediate profile: TLS 1.2 CBC suites and TLS 1.1 are refused; GCM, ChaCha20 and TLS 1.3 accepted", () => {
    // The test certificates are ECDSA (P-256). SECLEVEL=0 lets this client offer what the server must refuse.
    const handshake = (...args: string[]) => {
      const r = Bun.spawnSync(
        ['openssl', 's_client', '-brief', '-connect', `127.0.0.1:${grid.httpPort}`, ...args],
        {
          stdin: 'ignore',
        },
      )
      const out = r.stdout.toString() + r.stderr.toString()
      return r.exitCode === 0 ? (/Ciphersuite: (\S+)/.exec(out)?.[1] ?? 'connected') : 'refused'
    }
    const weak = '@SECLEVEL=0'
    expect(handshake('-tls1_2', '-cipher', `ECDHE-ECDSA-AES128-SHA${weak}`)).toBe('refused')
    expect(handshake('-tls1_2', '-cipher', `ECDHE-ECDSA-AES256-SHA${weak}`)).toBe('refused')
    expect(handshake('-tls1_2', '-cipher', `AES128-SHA256${weak}`)).toBe('refused')
    expect(handshake('-tls1_1', '-cipher', `DEFAULT${weak}`)).toBe('refused')
    expect(handshake('-tls1', '-cipher', `DEFAULT${weak}`)).toBe('refused')
    expect(handshake('-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256')).toBe(
      'ECDHE-ECDSA-AES128-GCM-SHA256',
    )
    expect(handshake('-tls1_2', '-cipher', 'ECDHE-ECDSA-CHACHA20-POLY1305')).toBe(
      'ECDHE-ECDSA-CHACHA20-POLY1305',
    )
    expect(handshake('-tls1_3')).toBe('TLS_AES_256_GCM_SHA384')
  })

  test('HTTPS answers carry Strict-Transport-Security, refusals too', async () => {
    const tls = { ca: readFileSync(ca, 'utf8') }
    for (const url of ['/health', '/api/jobs', '/no-such-route']) {
      const res = await fetch(`https://127.0.0.1:${grid.httpPort}${url}`, { tls })
      expect(res.headers.get('strict-transport-security')).toBe('max-age=63072000')
    }
  })

  test('a browser Origin on /ws/worker gets 403 with a JSON error', async () => {
    const res = await fetch(`https://127.0.0.1:${grid.wsPort}/ws/worker`, {
      headers: { origin: 'https://evil.example', upgrade: 'websocket', connection: 'Upgrade' },
      tls: { ca: readFileSync(ca, 'utf8') },
    })
    expect(res.status).toBe(403)
    const body = (await res.json()) as { error: { code: string; message: string } }
    expect(body.error.code).toBe('forbidden_origin')
    expect(body.error.message).toContain('https://evil.example are refused')
  })

  test('--self-signed: made once, same fingerprint after a restart; the printed client command works', async () => {
    const home = dirFor('tls-self')
    const first = spawnGridx([...SERVE, '--self-signed'], { GRIDX_HOME: home })
    procs.push(first)
    const fp = (await first.waitFor(/SHA-256 fingerprint (\S+)/))[1]
    expect(first.stderr()).toContain(
      `created a self-signed certificate in ${home}/coordinator/tls/self-signed.pem`,
    )
    // For those who copy the file instead of pasting a join line: the address, and which file.
    const m = await first.waitFor(
      /or by address: gridx login --coordinator (\S+) --ca-cert COPY-OF-CERT\.pem --user NAME/,
    )
    const copy = (await first.waitFor(/copy (\S+) from this machine to theirs/))[1]!
    expect(copy).toBe(`${home}/coordinator/tls/self-signed.pem`)
    const r = await account('register', m[1]!, 'carol', client(false), ['--ca-cert', copy])
    expect(r.stderr + r.stdout).toContain("registered 'carol'")
    expect(r.code).toBe(0)
    await first.stop()
    const second = spawnGridx([...SERVE, '--self-signed'], { GRIDX_HOME: home })
    procs.push(second)
    expect((await second.waitFor(/SHA-256 fingerprint (\S+)/))[1]).toBe(fp)
    expect(second.stderr()).toContain('using the self-signed certificate made earlier')
  })
})
