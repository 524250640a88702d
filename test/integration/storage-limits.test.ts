import { afterEach, describe, expect, test } from 'bun:test'
import { createHash } from 'node:crypto'
import { chmodSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ApiClient } from '../../src/client/api'
import { parseCoordinator } from '../../src/client/address'
import { startCoordinator } from '../../src/coordinator/server'
import type { Settings } from '../../src/coordinator/settings'
import { JobView } from '../../src/protocol/api'
import { type ArchiveEntry, packArchive } from '../../src/protocol/archive'
import { newSigningKey } from '../../src/protocol/receipt'
import { formatBytes } from '../../src/protocol/units'
import { Agent } from '../../src/worker/agent'
import { buildPolicy } from '../../src/worker/policy'
import type { ContainerExit, ContainerRuntime, EngineInfo, RunningContainer } from '../../src/worker/runtime'
import { tempDir } from '../e2e/harness'
import { connect, type Engine, ENGINES, hello, storedDigests, until } from '../support/coordinator'
import { freshDatabase } from '../support/postgres'
import { signedResult, testWorker } from '../support/worker-keys'

// Storage a user may keep on the coordinator (--quota), the /out figures the coordinator records,
// and the modes of what it keeps: a real coordinator on port 0 with a real SQLite file (archives on
// disk) or a real PostgreSQL (archives in the database).

const KiB = 1024
const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const random = (n: number) => new Uint8Array(n).map(() => Math.floor(Math.random() * 256))
const file = (path: string, data: Uint8Array): ArchiveEntry => ({ path, type: 'file', data, mode: 0o644 })
type ErrorReply = { error: { code: string; message: string } }

/** A coordinator on a clock the test moves, with alice and bob logged in. */
async function grid(
  settings: Partial<Settings> = {},
  dataDir = tempDir('storage'),
  engine: Engine = 'sqlite',
) {
  let now = Date.now()
  const database = engine === 'postgres' ? await freshDatabase() : undefined
  const logs: string[] = []
  const coord = await startCoordinator({
    host: '127.0.0.1',
    httpPort: 0,
    wsPort: 0,
    dataDir,
    database,
    // These tests are about storage, not sign-up: bob registers without an invite.
    settings: { signup: 'open', ...settings },
    clock: { now: () => now },
    log: (l) => logs.push(l),
  })
  cleanups.push(async () => {
    await coord.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })
  expect(coord.blobs.where === 'PostgreSQL').toBe(engine === 'postgres')
  const base = `http://127.0.0.1:${coord.httpPort}`
  const call = (method: string, path: string, token: string | undefined, body?: unknown) =>
    fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        'content-type': body instanceof Uint8Array ? 'application/x-tar' : 'application/json',
      },
      body: body === undefined || body instanceof Uint8Array ? body : JSON.stringify(body),
    })
  const account = async (user: string) => {
    await call('POST', '/api/auth/register', undefined, { user, password: 'password-123' })
    const res = await call('POST', '/api/auth/login', undefined, { user, password: 'password-123' })
    return ((await res.json()) as { token: string }).token
  }
  const alice = await account('alice')
  const bob = await account('bob')
  const job = async (id: string) => JobView.parse(await (await call('GET', `/api/jobs/${id}`, alice)).json())
  const submit = async () => {
    const spec = { image: 'img', command: ['true'], timeoutMs: 60_000, cpus: 1, memoryBytes: 64 * 1024 ** 2 }
    const res = await call('POST', '/api/jobs', alice, spec)
    expect(res.status).toBe(201)
    return ((await res.json()) as { id: string }).id
  }
  return { coord, dataDir, base, call, alice, bob, job, submit, logs, advance: (ms: number) => (now += ms) }
}

for (const engine of ENGINES) {
  describe(`storage quota (gridx serve --quota) on ${engine}`, () => {
    test('an upload past the quota is refused with the figures before it is stored; expiry makes room again', async () => {
      const g = await grid({ quotaBytes: 100 * KiB, keepFilesMs: 3_600_000 }, undefined, engine)
      const first = await packArchive([file('a.bin', random(60 * KiB))])
      expect((await g.call('POST', '/api/uploads', g.alice, first)).status).toBe(201)

      const second = await packArchive([file('b.bin', random(60 * KiB))])
      const refused = await g.call('POST', '/api/uploads', g.alice, second)
      expect(refused.status).toBe(413)
      const { error } = (await refused.json()) as ErrorReply
      expect(error.code).toBe('quota_exceeded')
      // Used, this upload, the quota, and what to do.
      expect(error.message).toContain(`you keep ${formatBytes(first.length)} on this coordinator`)
      expect(error.message).toContain(`this upload is ${formatBytes(second.length)}`)
      expect(error.message).toContain('your quota is 100 KiB')
      expect(error.message).toContain('--keep-files')
      expect(error.message).toContain('smaller inputs')
      // Refused on its declared size: nothing of it reached the blob store.
      expect(await storedDigests(g.coord)).toEqual([sha256(first)])

      // Another user has a quota of their own.
      expect((await g.call('POST', '/api/uploads', g.bob, second)).status).toBe(201)
      // Past --keep-files the first upload no longer counts.
      g.advance(2 * 3_600_000)
      expect((await g.call('POST', '/api/uploads', g.alice, second)).status).toBe(201)
    })

    test('an upload that does not declare its size is cut off once it passes the room left', async () => {
      const g = await grid({ quotaBytes: 100 * KiB }, undefined, engine)
      const archive = await packArchive([file('big.bin', random(300 * KiB))])
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < archive.length; i += 16 * KiB) c.enqueue(archive.subarray(i, i + 16 * KiB))
          c.close()
        },
      })
      const res = await fetch(`${g.base}/api/uploads`, {
        method: 'POST',
        headers: { authorization: `Bearer ${g.alice}`, 'content-type': 'application/x-tar' },
        body,
      })
      expect(res.status).toBe(413)
      const { error } = (await res.json()) as ErrorReply
      expect(error.code).toBe('quota_exceeded')
      expect(error.message).toContain('this upload is more than 100 KiB and your quota is 100 KiB')
      expect(await storedDigests(g.coord)).toEqual([])
      expect(readdirSync(join(g.dataDir, 'blobs', 'tmp'))).toEqual([])
    })

    test('the same archive uploaded again takes no more room', async () => {
      const g = await grid({ quotaBytes: 100 * KiB }, undefined, engine)
      const archive = await packArchive([file('a.bin', random(60 * KiB))])
      for (let i = 0; i < 3; i++)
        expect((await g.call('POST', '/api/uploads', g.alice, archive)).status).toBe(201)
      // A different archive of the very same size is new data, and does not fit.
      const other = await packArchive([file('a.bin', random(60 * KiB))])
      expect(other.length).toBe(archive.length)
      const refused = await g.call('POST', '/api/uploads', g.alice, other)
      expect(refused.status).toBe(413)
      expect(((await refused.json()) as ErrorReply).error.code).toBe('quota_exceeded')
      expect(await storedDigests(g.coord)).toEqual([sha256(archive)])
    })

    test("a job's /out over its owner's quota: the real worker ends it as output_limit with the figures; its output is kept and it is billed", async () => {
      const g = await grid({ quotaBytes: 100 * KiB }, undefined, engine)
      // Alice already keeps 61 KiB of inputs.
      const kept = await packArchive([file('inputs.bin', random(60 * KiB))])
      expect((await g.call('POST', '/api/uploads', g.alice, kept)).status).toBe(201)
      const runtime = new OutputsRuntime([file('result.bin', random(50 * KiB))])
      const agent = startAgent(g, runtime)
      const running = agent.run()
      cleanups.push(async () => {
        await agent.stop()
        await running
      })
      await agent.ready
      const id = await g.submit()
      await until(() => runtime.started, 'the job starts', 10_000)
      await Bun.sleep(1100) // a started second is billed
      g.advance(1100) // the coordinator bills only the time it saw pass, on its own clock
      runtime.exit()
      await until(
        async () => (await g.coord.store.queue.job(id))?.finishedAt !== null,
        'the job ends',
        10_000,
      )
      const view = await g.job(id)
      expect(view).toMatchObject({ state: 'failed', outcome: 'output_limit', exitCode: 0, outputs: null })
      expect(view.error).toContain("the coordinator refused the job's /out files: storage quota exceeded")
      expect(view.error).toContain('your quota is 100 KiB')
      expect(view.costMc).toBeGreaterThan(0)
      const out = await (await g.call('GET', `/api/jobs/${id}/output`, g.alice)).text()
      expect(out).toContain(Buffer.from('computed\n').toString('base64'))
      expect((await g.coord.store.credits.audit()).ok).toBe(true)
    })
  })

  describe(`a job's /out archive under one lease on ${engine}`, () => {
    test('is staged once: a different archive is refused 409 before it is kept, the same one again is accepted', async () => {
      const MiB = 1024 * KiB
      const g = await grid({ quotaBytes: 3 * MiB }, undefined, engine)
      const w = connect(g.coord.wsPort, g.bob)
      expect(await w.opened).toBe(true)
      w.send(hello(testWorker('restager-1')))
      await w.next('welcome')
      const id = await g.submit()
      const { job } = await w.next('job.assign')
      w.send({ type: 'job.started', lease: { jobId: job.jobId, attempt: job.attempt } })
      const blobsOnDisk = () => storedDigests(g.coord)
      const put = (archive: Uint8Array) => g.call('PUT', `/api/leases/${id}/1/outputs`, g.bob, archive)
      const archives = await Promise.all(
        Array.from({ length: 10 }, () => packArchive([file('big.bin', random(MiB))])),
      )
      const first = archives[0]!
      expect((await put(first)).status).toBe(201)
      // An honest worker's retry after a dropped connection sends the same archive: accepted again.
      expect((await put(first)).status).toBe(201)
      const statuses: number[] = []
      for (const a of archives.slice(1)) {
        const res = await put(a)
        statuses.push(res.status)
        if (res.status === 409) {
          const { error } = (await res.json()) as ErrorReply
          expect(error.code).toBe('outputs_staged')
          expect(error.message).toContain(`already staged its /out files (${sha256(first)}`)
        }
      }
      expect(statuses).toEqual(Array<number>(9).fill(409))
      // One of another size is refused from its Content-Length, before its body is read.
      expect((await put(await packArchive([file('small', random(10))]))).status).toBe(409)
      // Nothing refused was kept: the disk holds the one staged archive, and the temporary folder is empty.
      expect(await blobsOnDisk()).toEqual([sha256(first)])
      expect(readdirSync(join(g.dataDir, 'blobs', 'tmp'))).toEqual([])
      expect((await g.coord.store.leases.stagedOutputs({ jobId: id, attempt: 1 }))?.sha256).toBe(
        sha256(first),
      )

      // Racing uploads of different archives to a fresh lease: one is staged, the rest leave nothing.
      const w2 = connect(g.coord.wsPort, g.bob)
      expect(await w2.opened).toBe(true)
      w2.send(hello(testWorker('restager-2')))
      await w2.next('welcome')
      const id2 = await g.submit()
      const second = await w2.next('job.assign')
      w2.send({ type: 'job.started', lease: { jobId: second.job.jobId, attempt: second.job.attempt } })
      const fresh = await Promise.all(
        Array.from({ length: 4 }, () => packArchive([file('b', random(256 * KiB))])),
      )
      const raced = await Promise.all(
        fresh.map((a) => g.call('PUT', `/api/leases/${id2}/1/outputs`, g.bob, a).then((r) => r.status)),
      )
      expect(raced.filter((s) => s === 201)).toHaveLength(1)
      // The rest: 409 when they reached the staging step, 429 past the two uploads a lease may have at once.
      expect(raced.filter((s) => s === 409 || s === 429)).toHaveLength(3)
      expect(await blobsOnDisk()).toHaveLength(2)
    })
  })

  describe(`a job's /out figures on ${engine}`, () => {
    test('are counted from the archive the coordinator stored, not taken from the worker (a mismatch is logged)', async () => {
      const g = await grid({}, undefined, engine)
      const worker = testWorker('storage-liar-1')
      const w = connect(g.coord.wsPort, g.bob)
      expect(await w.opened).toBe(true)
      w.send(hello(worker))
      await w.next('welcome')
      const id = await g.submit()
      const { job } = await w.next('job.assign')
      const lease = { jobId: job.jobId, attempt: job.attempt }
      w.send({ type: 'job.started', lease })
      const archive = await packArchive([
        file('a.txt', Buffer.from('hello')),
        { path: 'dir', type: 'dir', data: new Uint8Array(0), mode: 0o755 },
        file('dir/b.txt', Buffer.from('world!')),
      ])
      const put = await g.call('PUT', `/api/leases/${id}/1/outputs`, g.bob, archive)
      expect(put.status).toBe(201)
      expect(await put.json()).toEqual({ sha256: sha256(archive), bytes: 11, files: 2 })
      // The worker claims far more than it returned; the receipt signs the digest, not the counts.
      const claim = { sha256: sha256(archive), bytes: 5_000_000, files: 9_999 }
      w.send(signedResult(worker, lease, { outputs: claim }, { outputsSha256: claim.sha256 }))
      await until(async () => (await g.coord.store.queue.job(id))?.finishedAt !== null, 'the job ends')
      expect((await g.job(id)).outputs).toEqual({ bytes: 11, files: 2 })
      expect(await g.coord.store.queue.job(id)).toMatchObject({ outputsBytes: 11, outputFiles: 2 })
      expect(g.logs.some((l) => l.includes('reported 9999 /out file(s) of 5000000 bytes'))).toBe(true)
      expect(g.logs.some((l) => l.includes('holds 2 of 11 bytes'))).toBe(true)
    })
  })
}

describe("modes of the coordinator's data", () => {
  const mode = (path: string) => statSync(path).mode & 0o777

  test('the data directory and its folders are 0700 and every file 0600, whatever the umask', async () => {
    const old = process.umask(0)
    cleanups.push(() => void process.umask(old))
    const dataDir = join(tempDir('modes'), 'fresh')
    const g = await grid({}, dataDir)
    const archive = await packArchive([file('a.txt', Buffer.from('a'))])
    expect((await g.call('POST', '/api/uploads', g.alice, archive)).status).toBe(201)
    expect(mode(dataDir)).toBe(0o700)
    expect(mode(join(dataDir, 'blobs'))).toBe(0o700)
    expect(mode(join(dataDir, 'blobs', 'tmp'))).toBe(0o700)
    for (const name of ['gridx.db', 'gridx.db-wal', 'gridx.db-shm'])
      expect(mode(join(dataDir, name))).toBe(0o600)
    expect(mode(join(dataDir, 'blobs', sha256(archive)))).toBe(0o600)
  })

  test('a data directory left open by an earlier version (0755/0644) is tightened at start', async () => {
    const dataDir = tempDir('modes-old')
    const first = await grid({}, dataDir)
    const archive = await packArchive([file('a.txt', Buffer.from('a'))])
    expect((await first.call('POST', '/api/uploads', first.alice, archive)).status).toBe(201)
    await first.coord.stop()
    cleanups.length = 0
    mkdirSync(join(dataDir, 'tls'))
    writeFileSync(join(dataDir, 'tls', 'self-signed.key'), 'key')
    const open = [dataDir, join(dataDir, 'blobs'), join(dataDir, 'tls')]
    for (const d of open) chmodSync(d, 0o755)
    const files = [
      'gridx.db',
      'gridx.db-wal',
      'gridx.db-shm',
      `blobs/${sha256(archive)}`,
      'tls/self-signed.key',
    ]
    for (const f of files) chmodSync(join(dataDir, f), 0o644)
    // Someone else's file in a shared directory is left as it is.
    writeFileSync(join(dataDir, 'notes.sh'), '#!/bin/sh\n', { mode: 0o755 })
    chmodSync(join(dataDir, 'notes.sh'), 0o755)

    await grid({}, dataDir)
    for (const d of open) expect(mode(d)).toBe(0o700)
    for (const f of files) expect(mode(join(dataDir, f))).toBe(0o600)
    expect(mode(join(dataDir, 'notes.sh'))).toBe(0o755)
  })
})

const engine: EngineInfo = {
  version: 'fake',
  cpus: 2,
  memoryBytes: 4 * 1024 ** 3,
  endpoint: 'fake',
  runtimes: [],
}

/** Containers that print a line, exit 0 when the test says, and leave `outputs` under /out. */
class OutputsRuntime implements ContainerRuntime {
  started = false
  exit: () => void = () => undefined
  constructor(private readonly outputs: ArchiveEntry[]) {}
  info = () => Promise.resolve(engine)
  hasImage = () => Promise.resolve(true)
  pull = () => Promise.resolve()
  removeLeftovers = () => Promise.resolve([])
  localImages = () => Promise.resolve([])
  prepare = (ref: string) => Promise.resolve(ref)
  start(_spec: unknown, onOutput: (s: 'stdout' | 'stderr', d: Buffer) => void): Promise<RunningContainer> {
    const usage = { cpuMs: null, peakMemoryBytes: null }
    const exited = new Promise<ContainerExit>((resolve) => {
      this.exit = () => resolve({ exitCode: 0, oomKilled: false, usage })
    })
    onOutput('stdout', Buffer.from('computed\n'))
    this.started = true
    const entries = this.outputs
    const bytes = entries.reduce((n, e) => n + e.data.length, 0)
    return Promise.resolve({
      id: 'fake',
      wait: () => exited,
      kill: () => Promise.resolve(this.exit()),
      outputUse: () => Promise.resolve(undefined),
      outputs: () => Promise.resolve({ tooBig: false as const, entries, skipped: [], bytes }),
      remove: () => Promise.resolve(),
    })
  }
}

/** The real worker agent, as bob, with containers faked and files moved by the real API client. */
function startAgent(g: Awaited<ReturnType<typeof grid>>, runtime: ContainerRuntime): Agent {
  const addr = parseCoordinator(`127.0.0.1:${g.coord.httpPort}`, {
    httpPort: g.coord.httpPort,
    wsPort: g.coord.wsPort,
  })
  const api = new ApiClient(addr, g.bob)
  return new Agent({
    addr,
    token: () => Promise.resolve(g.bob),
    workerId: 'storage-agent-1',
    name: 'fake',
    slots: 1,
    engine,
    runtime,
    policy: buildPolicy({ images: ['*'] }, engine, []),
    transfer: {
      inputs: (lease) => api.leaseInputs(lease),
      putOutputs: (lease, archive) => api.putLeaseOutputs(lease, archive),
    },
    key: newSigningKey(),
    backoff: { baseMs: 20, maxMs: 100 },
    log: () => undefined,
  })
}
