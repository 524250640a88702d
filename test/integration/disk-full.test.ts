import { afterAll, beforeAll, describe, expect, spyOn, test } from 'bun:test'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseCoordinator } from '../../src/client/address'
import { checkHealth } from '../../src/client/doctor/service'
import { startCoordinator } from '../../src/coordinator/server'
import { Health } from '../../src/protocol/api'
import { packArchive } from '../../src/protocol/archive'
import { tempDir } from '../e2e/harness'
import { connect, hello, until } from '../support/coordinator'
import { signedResult, testWorker } from '../support/worker-keys'

// A coordinator whose data directory is a real, small file system that the test fills: what
// every request gets while the disk is full, and what it finds once space is freed.

const root = process.getuid?.() === 0
if (!root) console.warn('disk-full.test.ts: skipped, mounting a small tmpfs needs root')

let mountPoint = ''
beforeAll(() => {
  if (!root) return
  mountPoint = tempDir('diskfull')
  const r = Bun.spawnSync(['mount', '-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', mountPoint])
  if (r.exitCode !== 0) throw new Error(`mount tmpfs: ${r.stderr.toString()}`)
})
afterAll(() => {
  if (!root || !mountPoint) return
  // SQLite may keep the closed database's file open until its statements are collected: detach lazily.
  if (Bun.spawnSync(['umount', mountPoint]).exitCode !== 0) Bun.spawnSync(['umount', '-l', mountPoint])
  rmSync(mountPoint, { recursive: true, force: true })
})

type ErrorReply = { error: { code: string; message: string } }

describe('a full disk on the coordinator', () => {
  test.skipIf(!root)(
    'answers 507 disk_full, logs it once, reports degraded health; recovers with nothing half-written',
    async () => {
      const dataDir = join(mountPoint, 'data')
      mkdirSync(dataDir)
      const logs: string[] = []
      const coord = await startCoordinator({
        host: '127.0.0.1',
        httpPort: 0,
        wsPort: 0,
        dataDir,
        // About the disk, not sign-up: bob registers without an invite.
        settings: { signup: 'open' },
        log: (l) => logs.push(l),
      })
      const internal = spyOn(console, 'error')
      try {
        const base = `http://127.0.0.1:${coord.httpPort}`
        const post = (path: string, body: unknown, token?: string) =>
          fetch(`${base}${path}`, {
            method: 'POST',
            headers: {
              'content-type': body instanceof Uint8Array ? 'application/x-tar' : 'application/json',
              ...(token ? { authorization: `Bearer ${token}` } : {}),
            },
            body: body instanceof Uint8Array ? body : JSON.stringify(body),
          })
        const health = async () => Health.parse(await (await fetch(`${base}/health`)).json())
        const creds = { user: 'alice', password: 'password-123' }
        expect((await post('/api/auth/register', creds)).status).toBe(201)
        const { token } = (await (await post('/api/auth/login', creds)).json()) as { token: string }
        const spec = {
          image: 'img',
          command: ['true'],
          timeoutMs: 60_000,
          cpus: 1,
          memoryBytes: 64 * 1024 ** 2,
        }
        const before = await coord.store.credits.audit()

        // Fill the file system to the last block.
        const filler = join(mountPoint, 'filler')
        try {
          writeFileSync(filler, Buffer.alloc(16 * 1024 * 1024))
        } catch (err) {
          expect((err as { code?: string }).code).toBe('ENOSPC')
        }

        const refusals = [
          await post('/api/auth/register', { user: 'bob', password: 'password-456' }),
          await post('/api/jobs', spec, token),
          await post('/api/jobs', spec, token),
          await post(
            '/api/uploads',
            await packArchive([{ path: 'a', type: 'file', data: Buffer.alloc(64 * 1024), mode: 0o644 }]),
            token,
          ),
        ]
        for (const res of refusals) {
          expect(res.status).toBe(507)
          const { error } = (await res.json()) as ErrorReply
          expect(error.code).toBe('disk_full')
          expect(error.message).toMatch(
            /^the coordinator's disk is full \(.+\/data, [\d.]+ (B|KiB) free\): the operator must free space; nothing was written$/,
          )
        }
        // A worker's socket is refused, not crashed: told why and closed, so it comes back later.
        const w = connect(coord.wsPort, token)
        expect(await w.opened).toBe(true)
        w.send(hello(testWorker('disk-full-worker')))
        expect(await w.next('error')).toMatchObject({ code: 'disk_full' })
        await w.closed

        const degraded = await health()
        expect(degraded.status).toBe('degraded')
        expect(degraded.reason).toContain(`the data directory ${dataDir} is full`)
        // gridx doctor warns, and the checks that need only a live coordinator still run.
        const addr = parseCoordinator(`127.0.0.1:${coord.httpPort}`, {
          httpPort: coord.httpPort,
          wsPort: coord.wsPort,
        })
        const [doctor] = (await checkHealth(addr, { ca: undefined, timeoutMs: 3000 })).result
        expect(doctor).toMatchObject({ check: 'health', status: 'warn' })
        expect(doctor?.detail).toContain(`degraded: the disk holding the data directory ${dataDir} is full`)
        expect(doctor?.fix).toContain('free space')
        // One line for the whole episode, no stack traces.
        expect(logs.filter((l) => l.includes('is full'))).toHaveLength(1)
        expect(logs.find((l) => l.includes('is full'))).toContain(dataDir)
        expect(internal).not.toHaveBeenCalled()
        // Nothing of the refused requests was written.
        expect(await coord.store.accounts.byName('bob')).toBeUndefined()
        expect(await coord.store.queue.counts()).toEqual({})
        expect(await coord.store.credits.audit()).toEqual(before)

        rmSync(filler)
        await until(
          () => logs.some((l) => l.includes('disk space is back')),
          'the recovery is noticed',
          15_000,
        )
        expect((await health()).status).toBe('ok')
        expect((await health()).reason).toBeNull()
        expect((await post('/api/auth/register', { user: 'bob', password: 'password-456' })).status).toBe(201)
        expect((await post('/api/jobs', spec, token)).status).toBe(201)
        const audit = await coord.store.credits.audit()
        expect(audit.ok).toBe(true)
        expect(audit.minted).toBe(before.minted * 2)
      } finally {
        internal.mockRestore()
        await coord.stop()
      }
    },
  )

  test.skipIf(!root)(
    'a result arriving while the disk is full is refused disk_full (retry), with no log line per result',
    async () => {
      const dataDir = join(mountPoint, 'data-results')
      mkdirSync(dataDir)
      const logs: string[] = []
      const coord = await startCoordinator({
        host: '127.0.0.1',
        httpPort: 0,
        wsPort: 0,
        dataDir,
        log: (l) => logs.push(l),
      })
      const filler = join(mountPoint, 'filler-results')
      try {
        const base = `http://127.0.0.1:${coord.httpPort}`
        const post = (path: string, body: unknown, token?: string) =>
          fetch(`${base}${path}`, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              ...(token ? { authorization: `Bearer ${token}` } : {}),
            },
            body: JSON.stringify(body),
          })
        const creds = { user: 'alice', password: 'password-123' }
        expect((await post('/api/auth/register', creds)).status).toBe(201)
        const { token } = (await (await post('/api/auth/login', creds)).json()) as { token: string }
        const spec = {
          image: 'img',
          command: ['true'],
          timeoutMs: 60_000,
          cpus: 1,
          memoryBytes: 64 * 1024 ** 2,
        }
        const { id } = (await (await post('/api/jobs', spec, token)).json()) as { id: string }
        const worker = testWorker('disk-full-results')
        const w = connect(coord.wsPort, token)
        expect(await w.opened).toBe(true)
        w.send(hello(worker))
        await w.next('welcome')
        await w.next('job.assign')
        const lease = { jobId: id, attempt: 1 }
        w.send({ type: 'job.started', lease })
        await until(async () => (await coord.store.queue.job(id))?.state === 'running', 'the job runs')

        try {
          writeFileSync(filler, Buffer.alloc(16 * 1024 * 1024))
        } catch (err) {
          expect((err as { code?: string }).code).toBe('ENOSPC')
        }
        const result = signedResult(worker, lease)
        for (let i = 0; i < 3; i++) {
          w.send(result)
          expect(await w.next('job.refused')).toMatchObject({ lease, code: 'disk_full', retry: true })
        }
        expect(w.ws.readyState).toBe(WebSocket.OPEN)
        expect((await coord.store.queue.job(id))?.state).toBe('running')
        expect(logs.filter((l) => l.includes('taking the result'))).toEqual([])
        expect(logs.filter((l) => l.includes('is full'))).toHaveLength(1)

        rmSync(filler)
        await until(
          () => logs.some((l) => l.includes('disk space is back')),
          'the recovery is noticed',
          15_000,
        )
        w.send(result)
        await w.next('job.ack')
        expect((await coord.store.queue.job(id))?.state).toBe('succeeded')
        expect((await coord.store.credits.audit()).ok).toBe(true)
        w.ws.close()
      } finally {
        rmSync(filler, { force: true })
        await coord.stop()
      }
    },
  )
})

describe('starting on a full disk', () => {
  test.skipIf(!root)(
    'starts and answers: ok when nothing changes, degraded while an operator change waits for space',
    async () => {
      const dataDir = join(mountPoint, 'restart')
      mkdirSync(dataDir)
      const logs: string[] = []
      const start = async (admins: string[]) =>
        await startCoordinator({
          host: '127.0.0.1',
          httpPort: 0,
          wsPort: 0,
          dataDir,
          settings: { signup: 'open', admins },
          log: (l) => logs.push(l),
        })
      const health = async (port: number) =>
        Health.parse(await (await fetch(`http://127.0.0.1:${port}/health`)).json())
      const first = await start([])
      for (const user of ['alice', 'bob']) {
        const res = await fetch(`http://127.0.0.1:${first.httpPort}/api/auth/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ user, password: 'password-123' }),
        })
        expect(res.status).toBe(201)
      }
      await first.stop()

      const filler = join(mountPoint, 'filler-restart')
      try {
        writeFileSync(filler, Buffer.alloc(16 * 1024 * 1024))
      } catch (err) {
        expect((err as { code?: string }).code).toBe('ENOSPC')
      }
      const internal = spyOn(console, 'error')
      try {
        // The same operators as before: start-up writes nothing, so the disk being full changes nothing.
        const same = await start([])
        try {
          expect(await health(same.httpPort)).toMatchObject({ status: 'ok', reason: null })
          expect(await same.store.accounts.operators()).toEqual(['alice'])
        } finally {
          await same.stop()
        }
        // bob named now: that change cannot be written yet, so the coordinator runs degraded and says so.
        logs.length = 0
        const changed = await start(['bob'])
        try {
          const degraded = await health(changed.httpPort)
          expect(degraded.status).toBe('degraded')
          expect(degraded.reason).toContain(`the data directory ${dataDir} is full`)
          expect(logs.filter((l) => l.startsWith('the disk holding'))).toHaveLength(1)
          expect(logs.some((l) => /operators.*not.*written|could not record the operators/i.test(l))).toBe(
            true,
          )
          expect(await changed.store.accounts.operators()).toEqual(['alice'])
          rmSync(filler)
          await until(
            async () => (await changed.store.accounts.operators()).includes('bob'),
            'the operator change is written',
            20_000,
          )
          expect((await health(changed.httpPort)).status).toBe('ok')
        } finally {
          await changed.stop()
        }
        expect(internal).not.toHaveBeenCalled()
      } finally {
        internal.mockRestore()
        rmSync(filler, { force: true })
      }
    },
  )
})
