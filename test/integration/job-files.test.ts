import { afterEach, describe, expect, test } from 'bun:test'
import { createHash } from 'node:crypto'
import tarStream from 'tar-stream'
import { packArchive } from '../../src/protocol/archive'
import { JobView, UploadView } from '../../src/protocol/api'
import {
  connect,
  type Engine,
  ENGINES,
  hello,
  type RawWorker,
  startTestCoordinator,
  type TestCoordinator,
  until,
} from '../support/coordinator'
import { freshDatabase } from '../support/postgres'
import { signedResult, testWorker } from '../support/worker-keys'
import type { Settings } from '../../src/coordinator/settings'

// Job files over a real coordinator: who may upload, fetch, stage and download what; on SQLite
// with archives on disk, and on PostgreSQL with archives in the database.

let current: TestCoordinator | undefined
afterEach(async () => {
  await current?.stop()
  current = undefined
})

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const bobWorker = testWorker('files-worker-bob')

/** A coordinator where alice submits and bob's worker (a raw socket) runs. */
async function setup(settings: Partial<Settings>, engine: Engine) {
  const database = engine === 'postgres' ? await freshDatabase() : undefined
  const t = await startTestCoordinator(settings, { database })
  current = t
  // PostgreSQL's coordinator keeps its archives in the database, not on its disk.
  expect(t.coord.blobs.where === 'PostgreSQL').toBe(engine === 'postgres')
  const bob = await t.addUser('bob', 'password-456')
  const w = connect(t.coord.wsPort, bob)
  expect(await w.opened).toBe(true)
  w.send(hello(bobWorker))
  await w.next('welcome')
  const call = (method: string, path: string, token: string, body?: Uint8Array) =>
    fetch(`${t.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-tar' },
      body,
    })
  return { t, bob, alice: t.token, w, call }
}

async function submitWithInputs(t: TestCoordinator, token: string, sha: string) {
  const body = {
    image: 'img',
    command: ['true'],
    timeoutMs: 60_000,
    cpus: 1,
    memoryBytes: 64 * 1024 ** 2,
    inputs: { sha256: sha },
  }
  return t.post('/api/jobs', body, token)
}

async function assigned(w: RawWorker) {
  const { job } = await w.next('job.assign')
  const lease = { jobId: job.jobId, attempt: job.attempt }
  w.send({ type: 'job.started', lease })
  return { job, lease }
}

for (const engine of ENGINES) {
  describe(`job files on ${engine}`, () => {
    test("inputs: only the lease holder's owner fetches them; another user cannot name them", async () => {
      const { t, bob, alice, w, call } = await setup({}, engine)
      const archive = await packArchive([
        { path: 'data.csv', type: 'file', data: Buffer.from('a,b\n'), mode: 0o644 },
      ])
      const up = await call('POST', '/api/uploads', alice, archive)
      expect(up.status).toBe(201)
      const uploaded = UploadView.parse(await up.json())
      expect(uploaded).toEqual({ sha256: sha256(archive), bytes: archive.length, files: 1 })

      // Bob cannot run a job on alice's upload by knowing its digest.
      const stolen = await submitWithInputs(t, bob, uploaded.sha256)
      expect(stolen.status).toBe(400)
      expect(((await stolen.json()) as { error: { code: string } }).error.code).toBe('no_upload')

      expect((await submitWithInputs(t, alice, uploaded.sha256)).status).toBe(201)
      const { job, lease } = await assigned(w)
      expect(job.inputs).toEqual({ sha256: uploaded.sha256, bytes: archive.length })
      const path = `/api/leases/${lease.jobId}/${lease.attempt}/inputs`
      const got = await call('GET', path, bob)
      expect(got.status).toBe(200)
      expect(sha256(new Uint8Array(await got.arrayBuffer()))).toBe(uploaded.sha256)
      // Alice owns the job but not the worker; an old attempt number is no lease at all.
      expect((await call('GET', path, alice)).status).toBe(409)
      expect((await call('GET', `/api/leases/${lease.jobId}/7/inputs`, bob)).status).toBe(409)
    })

    test("files larger than the job's memory are refused at submit, naming both sizes", async () => {
      const { t, alice, call } = await setup({}, engine)
      // Random bytes: 8 MiB of them in a tar, more than the 6 MiB of memory asked for below.
      const data = new Uint8Array(8 * 1024 ** 2).map(() => Math.floor(Math.random() * 256))
      const archive = await packArchive([{ path: 'big.bin', type: 'file', data, mode: 0o644 }])
      const up = UploadView.parse(await (await call('POST', '/api/uploads', alice, archive)).json())
      const job = (memoryBytes: number) =>
        t.post(
          '/api/jobs',
          {
            image: 'img',
            command: ['true'],
            timeoutMs: 60_000,
            cpus: 1,
            memoryBytes,
            inputs: { sha256: up.sha256 },
          },
          alice,
        )
      const refused = await job(6 * 1024 ** 2)
      expect(refused.status).toBe(400)
      const { error } = (await refused.json()) as { error: { code: string; message: string } }
      expect(error.code).toBe('files_exceed_memory')
      expect(error.message).toContain('(8.0 MiB) do not fit in the 6 MiB of memory')
      expect(error.message).toContain('--memory')
      const ok = await job(64 * 1024 ** 2)
      expect(ok.status).toBe(201)
      // Placement's measure of the files: the archive plus a page per file, never less than the tmpfs takes.
      const { id } = (await ok.json()) as { id: string }
      expect((await t.coord.store.queue.job(id))?.filesBytes).toBe(archive.length + 4096)
    })

    test('outputs: unsafe archives are refused; the staged one is the one the receipt names; only the owner downloads', async () => {
      const { t, bob, alice, w, call } = await setup({}, engine)
      const id = await t.submit()
      const { lease } = await assigned(w)
      const path = `/api/leases/${lease.jobId}/${lease.attempt}/outputs`

      const pack = tarStream.pack()
      pack.entry({ name: 'pw', type: 'symlink', linkname: '/etc/passwd' })
      pack.finalize()
      const chunks: Buffer[] = []
      for await (const c of pack) chunks.push(c as Buffer)
      const unsafe = await call('PUT', path, bob, Buffer.concat(chunks))
      expect(unsafe.status).toBe(400)
      expect(await unsafe.text()).toContain('symlink to /etc/passwd')
      expect((await call('PUT', path, alice, Buffer.from('x'))).status).toBe(409)

      const outputs = await packArchive([
        { path: 'res/r.txt', type: 'file', data: Buffer.from('result'), mode: 0o644 },
      ])
      expect((await call('PUT', path, bob, outputs)).status).toBe(201)
      const o = { sha256: sha256(outputs), bytes: 6, files: 1 }
      w.send(signedResult(bobWorker, lease, { outputs: o }, { outputsSha256: o.sha256 }))
      await until(async () => (await t.coord.store.queue.job(id))?.state === 'succeeded', 'the job succeeds')
      const view = JobView.parse(await (await call('GET', `/api/jobs/${id}`, alice)).json())
      expect(view.outputs).toEqual({ bytes: 6, files: 1 })
      const dl = await call('GET', `/api/jobs/${id}/outputs`, alice)
      expect(dl.status).toBe(200)
      expect(dl.headers.get('x-gridx-sha256')).toBe(o.sha256)
      expect(sha256(new Uint8Array(await dl.arrayBuffer()))).toBe(o.sha256)
      expect((await call('GET', `/api/jobs/${id}/outputs`, bob)).status).toBe(404)
    })

    test('a result naming /out files that never arrived is not accepted: the job is retried', async () => {
      const { t, w } = await setup({}, engine)
      const id = await t.submit()
      const { lease } = await assigned(w)
      const o = { sha256: 'f'.repeat(64), bytes: 1, files: 1 }
      w.send(signedResult(bobWorker, lease, { outputs: o }, { outputsSha256: o.sha256 }))
      const again = await w.next('job.assign')
      expect(again.job).toMatchObject({ jobId: id, attempt: 2 })
      const attempts = await t.coord.store.leases.attemptsOf(id)
      expect(attempts[0]).toMatchObject({
        outcome: 'error',
        reason: "the job's /out files did not reach the coordinator",
      })
    })

    test('a receipt that does not cover the reported outputs or usage is refused', async () => {
      const { t, bob, w, call } = await setup({}, engine)
      const id = await t.submit()
      const { lease } = await assigned(w)
      const outputs = await packArchive([{ path: 'a', type: 'file', data: Buffer.from('1'), mode: 0o644 }])
      expect((await call('PUT', `/api/leases/${id}/1/outputs`, bob, outputs)).status).toBe(201)
      const o = { sha256: sha256(outputs), bytes: 1, files: 1 }
      // Signed over no outputs, reported with some: refused, nothing settles.
      w.send(signedResult(bobWorker, lease, { outputs: o }, { outputsSha256: null }))
      w.send(signedResult(bobWorker, lease, { usage: { cpuMs: 5, peakMemoryBytes: 1 } }, { cpuMs: 99 }))
      await Bun.sleep(300)
      expect((await t.coord.store.queue.job(id))?.state).toBe('running')
    })

    test("files are kept for --keep-files: then unused uploads and ended jobs' outputs go, queued jobs' inputs stay", async () => {
      const { t, bob, alice, w, call } = await setup({ keepFilesMs: 1500 }, engine)
      const archiveOf = (name: string) =>
        packArchive([{ path: name, type: 'file', data: Buffer.from(name), mode: 0o644 }])
      const upload = async (archive: Uint8Array) =>
        UploadView.parse(await (await call('POST', '/api/uploads', alice, archive)).json()).sha256
      // A job that ends with /out files, one queued on inputs, and an upload no job uses.
      const done = await t.submit()
      const { lease } = await assigned(w)
      const outputs = await packArchive([
        { path: 'r.txt', type: 'file', data: Buffer.from('r'), mode: 0o644 },
      ])
      expect(
        (await call('PUT', `/api/leases/${lease.jobId}/${lease.attempt}/outputs`, bob, outputs)).status,
      ).toBe(201)
      const o = { sha256: sha256(outputs), bytes: 1, files: 1 }
      w.send(signedResult(bobWorker, lease, { outputs: o }, { outputsSha256: o.sha256 }))
      await until(
        async () => (await t.coord.store.queue.job(done))?.state === 'succeeded',
        'the job succeeds',
      )
      const used = await upload(await archiveOf('used.txt'))
      const queued = await submitWithInputs(t, alice, used)
      expect(queued.status).toBe(201)
      const unusedArchive = await archiveOf('unused.txt')
      const unused = await upload(unusedArchive)

      // Within the time nothing goes.
      expect((await t.coord.sweepFiles()).removed).toBe(0)
      await Bun.sleep(1600)
      expect(await t.coord.sweepFiles()).toEqual({ removed: 2, bytes: expect.any(Number) as number })
      expect(await t.coord.blobs.has(unused)).toBe(false)
      expect(await t.coord.blobs.has(o.sha256)).toBe(false)
      expect(await t.coord.blobs.has(used)).toBe(true) // its job has not run yet
      const dl = await call('GET', `/api/jobs/${done}/outputs`, alice)
      expect(dl.status).toBe(404)
      expect(await dl.text()).toContain(
        'they were removed, as the coordinator keeps job files for 1.5s after the job ends',
      )
      // A forgotten upload cannot be named any more; uploading it again brings it back.
      expect(
        ((await (await submitWithInputs(t, alice, unused)).json()) as { error: { code: string } }).error.code,
      ).toBe('no_upload')
      expect(await upload(unusedArchive)).toBe(unused)
      expect((await submitWithInputs(t, alice, unused)).status).toBe(201)
    })
  })
}
