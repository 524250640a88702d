import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { CheckResult } from '../../src/protocol/doctor'
import { freePort } from '../support/doctor'
import { BB_IMAGE, type Grid, gridx, startGrid, tempDir } from './harness'

let grid: Grid
let dir: string
beforeAll(async () => {
  grid = await startGrid()
  dir = tempDir('doctor-e2e')
})
afterAll(async () => {
  await grid.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('gridx doctor (the binary)', () => {
  test('a healthy coordinator, a logged-in user, working Docker: every line ✓, exit 0', async () => {
    const env = await grid.user('doc')
    // Both ports named apart, so each gets its own check.
    const r = await gridx(['doctor', '--worker', '--images', BB_IMAGE], {
      ...env,
      GRIDX_COORDINATOR: '127.0.0.1',
      GRIDX_HTTP_PORT: String(grid.httpPort),
      GRIDX_WS_PORT: String(grid.wsPort),
    })
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split('\n')
    expect(lines.length).toBeGreaterThanOrEqual(11)
    for (const line of lines) expect(line).toMatch(/^✓ [a-z]/)
    for (const name of ['name', 'http port', 'ws port', 'health', 'clock', 'credentials', 'websocket']) {
      expect(lines.some((l) => l.startsWith(`✓ ${name}: `))).toBe(true)
    }
    // GRIDX_USER/GRIDX_PASSWORD are given, so they are what is checked, not the saved login.
    expect(r.stdout).toContain('✓ credentials: doc can log in (password from --password / GRIDX_PASSWORD)')
    expect(r.stdout).toContain('✓ docker run: ran a throw-away container')
    expect(r.stderr).toContain('no problems found')
  })

  test('coordinator down: ✗ refused with the fix, exit 3, and a summary naming the failed checks', async () => {
    const port = freePort()
    const r = await gridx(['doctor', '--coordinator', `127.0.0.1:${port}`, '--no-docker'], {
      GRIDX_HOME: join(dir, 'down'),
    })
    expect(r.code).toBe(3)
    expect(r.stdout).toContain(
      `✗ http port: connection to 127.0.0.1:${port} refused: nothing listens there — fix: start 'gridx serve' on 127.0.0.1`,
    )
    expect(r.stdout).toContain('- health: skipped: ')
    expect(r.stdout).toContain('- docker: skipped: --no-docker')
    expect(r.stderr).toBe('gridx: 1 check(s) failed: http port\n')
  })

  test('--json: an array of {check, status, detail, fix}; still exit 3 on a failure', async () => {
    const path = join(dir, 'dead.sock')
    const dead = Bun.listen({ unix: path, socket: { open: (s) => void s.end(), data() {} } })
    try {
      const r = await gridx(['doctor', '--json'], {
        ...grid.env(join(dir, 'json')),
        DOCKER_HOST: `unix://${path}`,
      })
      expect(r.code).toBe(3)
      const results = CheckResult.array().parse(JSON.parse(r.stdout))
      for (const c of results) expect(Object.keys(c).sort()).toEqual(['check', 'detail', 'fix', 'status'])
      expect(results.find((c) => c.check === 'health')?.status).toBe('ok')
      expect(results.find((c) => c.check === 'credentials')).toMatchObject({
        status: 'warn',
        fix: expect.stringContaining('gridx login'),
      })
      // The engine "stopped": a socket nothing answers on.
      expect(results.find((c) => c.check === 'docker')).toMatchObject({
        status: 'fail',
        fix: expect.stringContaining('sudo systemctl start docker'),
      })
    } finally {
      dead.stop(true)
    }
  })

  test('--serve on the running coordinator: served by gridx, and the loopback-only warning', async () => {
    const r = await gridx(
      ['doctor', '--serve', '--http-port', String(grid.httpPort), '--ws-port', String(grid.wsPort)],
      { GRIDX_HOME: join(dir, 'serve') },
    )
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`✓ http port: port ${grid.httpPort} (the API) is already served by gridx`)
    expect(r.stdout).toContain(
      `✓ ws port: port ${grid.wsPort} (the worker socket) is already served by gridx`,
    )
    expect(r.stdout).toMatch(/^! addresses: .*bound to 127\.0\.0\.1 \(loopback\) only/m)
  })

  test('--serve with a port taken by another program: ✗ naming the flag, exit 3', async () => {
    const web = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('not gridx') })
    try {
      const r = await gridx(['doctor', '--serve', '--host', '127.0.0.1'], {
        GRIDX_HOME: join(dir, 'taken'),
        GRIDX_HTTP_PORT: String(web.port),
        GRIDX_WS_PORT: String(freePort()),
      })
      expect(r.code).toBe(3)
      expect(r.stdout).toContain(
        `✗ http port: port ${web.port} on 127.0.0.1 (the API) is taken by another program, not by gridx — fix: stop it`,
      )
      expect(r.stdout).toContain('--http-port P or GRIDX_HTTP_PORT=P')
      // The program is named: here, this test's own process.
      expect(r.stdout).toContain(`fix: stop it (pid ${process.pid}: `)
      expect(r.stdout).toMatch(/^! addresses: bound to 127\.0\.0\.1 only/m)
    } finally {
      await web.stop(true)
    }
  })
})
