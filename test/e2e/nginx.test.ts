import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { ROOT } from '../support/cli-surface'
import { BB_IMAGE, type Grid, gridx, startGrid, tempDir } from './harness'

// nginx terminates TLS on one port with a certificate from a private CA and proxies everything,
// the workers' WebSocket upgrade included, to the coordinator's plain HTTP port. The site config
// is deploy/nginx-gridx.conf, the one docs/NETWORK_SETUP.md shows, with only ports and paths changed.
const hasNginx = Bun.spawnSync(['sh', '-c', 'command -v nginx && command -v openssl']).exitCode === 0
if (!hasNginx)
  console.warn('skipping nginx tests: nginx or openssl is not installed (scripts/test-deps.sh installs them)')

let grid: Grid
let dir: string
let nginx: ReturnType<typeof Bun.spawn> | undefined
let url: string
let ca: string

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0))
    })
  })
}

/** The documented site config, pointed at this test's ports and certificate. */
function siteConfig(port: number, upstream: number): string {
  const site = readFileSync(join(ROOT, 'deploy/nginx-gridx.conf'), 'utf8')
  const out = site
    .replace('listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`)
    .replace('server 127.0.0.1:8081;', `server 127.0.0.1:${upstream};`)
    .replaceAll('/etc/gridx/tls/', `${dir}/tls/`)
  // Each replacement must have hit: the test runs the documented file, not one of its own.
  expect(out).toContain(`listen 127.0.0.1:${port} ssl;`)
  expect(out).toContain(`server 127.0.0.1:${upstream};`)
  expect(out).not.toContain('/etc/gridx')
  return out
}

async function waitForPort(port: number): Promise<void> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = Bun.connect({
        hostname: '127.0.0.1',
        port,
        socket: {
          open: (sock) => (sock.end(), resolve(true)),
          data: () => undefined,
          error: () => resolve(false),
        },
      }).catch(() => resolve(false))
      void s
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port}`)
    await Bun.sleep(100)
  }
}

describe.skipIf(!hasNginx)('behind nginx terminating TLS on one port', () => {
  beforeAll(async () => {
    const port = await freePort()
    url = `https://127.0.0.1:${port}`
    // As NETWORK_SETUP.md says: the coordinator knows the address the proxy serves.
    grid = await startGrid(['--public-url', url])
    dir = tempDir('nginx')
    const made = Bun.spawnSync([
      'bash',
      join(ROOT, 'scripts/private-ca.sh'),
      `${dir}/tls`,
      'localhost',
      '127.0.0.1',
    ])
    if (made.exitCode !== 0) throw new Error(`private-ca.sh failed: ${made.stderr.toString()}`)
    ca = `${dir}/tls/ca.crt`
    writeFileSync(`${dir}/site.conf`, siteConfig(port, grid.httpPort))
    // A self-contained nginx: one process in the foreground, everything under `dir`.
    writeFileSync(
      `${dir}/nginx.conf`,
      [
        'daemon off;',
        'master_process off;',
        `pid ${dir}/nginx.pid;`,
        `error_log ${dir}/error.log info;`,
        'events {}',
        'http {',
        '  access_log off;',
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t};`),
        `  include ${dir}/site.conf;`,
        '}',
      ].join('\n'),
    )
    nginx = Bun.spawn(['nginx', '-p', dir, '-c', `${dir}/nginx.conf`], {
      stdout: 'inherit',
      stderr: 'inherit',
    })
    await waitForPort(port)
  }, 60_000)

  afterAll(async () => {
    nginx?.kill('SIGTERM')
    await nginx?.exited
    await grid?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  test('curl --cacert gets /health through the proxy', () => {
    const r = Bun.spawnSync(['curl', '-sS', '--cacert', ca, `${url}/health`], {
      stdout: 'pipe',
      stderr: 'pipe',
    })
    expect(r.stderr.toString()).toBe('')
    expect(JSON.parse(r.stdout.toString())).toMatchObject({ status: 'ok', publicUrl: url })
  })

  test('a worker and a submitter that only know https://127.0.0.1:PORT and the CA run jobs', async () => {
    const env = (name: string) => ({
      GRIDX_HOME: `${dir}/home-${name}`,
      GRIDX_COORDINATOR: url,
      GRIDX_CA_CERT: ca,
      GRIDX_USER: name,
      GRIDX_PASSWORD: 'password-123',
    })
    const alice = env('alice')
    const bob = env('bob')
    const reg = await gridx(['register'], alice)
    expect(reg.stderr).not.toContain('error')
    expect(reg.code).toBe(0)
    // Alice, the first account, invites bob: the command she is given names the proxy's address.
    const invite = await gridx(['invite', '--json'], alice)
    expect(invite.code).toBe(0)
    const made = JSON.parse(invite.stdout) as { code: string; command: string }
    expect(made.command).toBe(
      `gridx register --coordinator ${url} --ca-cert ${ca} --invite ${made.code} --user NAME`,
    )
    const joined = await gridx(['register', '--invite', made.code], bob)
    expect(joined.stderr).not.toContain('error')
    expect(joined.code).toBe(0)
    // The worker's socket goes through nginx's upgrade too: wss://127.0.0.1:PORT/ws/worker.
    const w = await grid.worker(alice, 'behind-nginx')
    expect(w.stderr()).toContain(`connected to ${url}`)
    const script = 'for i in 1 2 3; do echo chunk $i; sleep 1; done'
    const r = await gridx(['submit', '-q', '--image', BB_IMAGE, '--', 'sh', '-c', script], bob)
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe('chunk 1\nchunk 2\nchunk 3\n')
    expect(r.code).toBe(0)
    const jobs = JSON.parse((await gridx(['jobs', '--all', '--json', '--limit', '1'], bob)).stdout) as {
      worker: string
    }[]
    expect(jobs[0]?.worker).toBe('behind-nginx')
  })

  test('without the CA the client refuses the proxy and says how to trust it', async () => {
    const r = await gridx(['login', '--user', 'alice', '--password', 'password-123'], {
      GRIDX_HOME: `${dir}/no-ca`,
      GRIDX_COORDINATOR: url,
    })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('--ca-cert')
  })
})
