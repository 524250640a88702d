import { describe, expect, test } from 'bun:test'
import type { Server } from 'bun'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DiskGuard } from '../../src/coordinator/disk'
import { HttpGuard } from '../../src/coordinator/http-guard'
import { DEFAULT_SETTINGS } from '../../src/coordinator/settings'
import { clientKey } from '../../src/coordinator/throttle'

// The guard in front of every route, driven with a fake server: the address a request came from is
// whatever the test says, which a test over loopback cannot vary within an IPv6 /64.

const from = new WeakMap<Request, string>()
const server = {
  requestIP: (req: Request) => ({ address: from.get(req) ?? 'unknown', family: 'IPv6', port: 1 }),
  timeout: () => undefined,
} as unknown as Server<unknown>

/** An unauthenticated login from `address`, with a body so the guard counts it. */
function login(address: string): Request {
  const req = new Request('http://coordinator/api/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': '2' },
    body: '{}',
  })
  from.set(req, address)
  return req
}

describe('the cap on requests in flight that have not logged in', () => {
  test('is keyed like the login throttle: one IPv6 /64 is one client', () => {
    expect(clientKey('2001:db8:1:2::1')).toBe(clientKey('2001:db8:1:2:ffff:ffff:ffff:ffff'))
    expect(clientKey('2001:db8:1:2::1')).not.toBe(clientKey('2001:db8:1:3::1'))
    expect(clientKey('::ffff:192.0.2.7')).toBe('192.0.2.7')
  })

  test('a host with a /64 gets the cap once, not once per address in it; another /64 is not held up', async () => {
    const cap = 4
    const guard = new HttpGuard({ ...DEFAULT_SETTINGS, maxUnauthenticatedPerAddress: cap }, false)
    let release = () => undefined as void
    const held = new Promise<void>((r) => (release = r))
    const slow = async () => {
      await held
      return Response.json({ ok: true })
    }
    const inFlight = Array.from({ length: cap }, (_, i) =>
      guard.handle(login(`2001:db8:1:2::${i + 1}`), server, slow),
    )
    const refused = await guard.handle(login('2001:db8:1:2:abcd::99'), server, slow)
    expect(refused?.status).toBe(429)
    expect(refused?.headers.get('retry-after')).toBe('5')
    expect(guard.unauthenticatedFrom('2001:db8:1:2::/64')).toBe(cap)
    const other = guard.handle(login('2001:db8:1:3::1'), server, slow)
    release()
    expect((await other)?.status).toBe(200)
    for (const res of await Promise.all(inFlight)) expect(res?.status).toBe(200)
    expect(guard.unauthenticatedFrom('2001:db8:1:2::/64')).toBe(0)
  })
})

describe('errors behind the guard', () => {
  test('an unexpected one is logged once with its path and answered 500; a full disk is a 507 from the disk handler', async () => {
    const logs: string[] = []
    const dir = mkdtempSync(join(tmpdir(), 'guard-'))
    const disk = new DiskGuard(dir, (l) => logs.push(l), 60_000)
    try {
      const guard = new HttpGuard(DEFAULT_SETTINGS, false, {
        log: (l) => logs.push(l),
        diskFull: (err) => disk.refusal(err),
      })
      const bug = await guard.handle(login('192.0.2.1'), server, () => {
        throw new Error('boom')
      })
      expect(bug?.status).toBe(500)
      expect(((await bug!.json()) as { error: { message: string } }).error.message).toBe(
        'internal error; see the coordinator log',
      )
      expect(logs).toEqual(['POST /api/auth/login failed: boom'])
      const full = await guard.handle(login('192.0.2.1'), server, () => {
        throw Object.assign(new Error('write failed'), { code: 'ENOSPC' })
      })
      expect(full?.status).toBe(507)
      expect(((await full!.json()) as { error: { code: string } }).error.code).toBe('disk_full')
      expect(disk.problem()).toContain(dir)
      expect(logs.filter((l) => l.includes('failed:'))).toHaveLength(1)
    } finally {
      disk.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
