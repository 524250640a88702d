import { afterAll, describe, expect, test } from 'bun:test'
import { createHash } from 'node:crypto'
import { rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { UploadView } from '../../src/protocol/api'
import { tempDir } from '../e2e/harness'
import { connect, hello, startTestCoordinator, type TestCoordinator, until } from '../support/coordinator'
import { freshDatabase } from '../support/postgres'
import { signedResult, testWorker } from '../support/worker-keys'

// Two coordinators on one PostgreSQL, each with its own data directory: a job's files uploaded
// through one are served by the other, both ways, with the archives in the database or in a
// directory both mount (--blob-dir). A 200 MB input goes through without the coordinators holding
// it in memory; the figures (RSS growth, MB/s each way) are printed for the note.

const MB = 1e6
const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** A tar of one file of `mb` MB of random bytes, written to disk by tar(1): never in this process's memory. */
function bigArchive(dir: string, name: string, mb: number): { path: string; sha256: string; bytes: number } {
  const sh = `head -c ${mb * MB} /dev/urandom > ${name}.bin && tar cf ${name}.tar ${name}.bin && rm ${name}.bin && sha256sum ${name}.tar`
  const r = Bun.spawnSync(['sh', '-c', sh], { cwd: dir })
  if (r.exitCode !== 0) throw new Error(`making ${name}.tar failed: ${r.stderr.toString()}`)
  const path = join(dir, `${name}.tar`)
  return { path, sha256: r.stdout.toString().split(' ')[0]!, bytes: statSync(path).size }
}

/** Reads a response body to the end, hashing as it goes (nothing kept); its digest and size. */
async function drain(res: Response): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of res.body! as AsyncIterable<Uint8Array>) {
    hash.update(chunk)
    bytes += chunk.length
  }
  return { sha256: hash.digest('hex'), bytes }
}

/** The highest RSS seen while `fn` runs, sampled every 20 ms. */
async function peakRss<T>(fn: () => Promise<T>): Promise<{ value: T; peak: number }> {
  let peak = process.memoryUsage.rss()
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20)
  try {
    const value = await fn()
    return { value, peak: Math.max(peak, process.memoryUsage.rss()) }
  } finally {
    clearInterval(timer)
  }
}

const MODES = [
  { name: 'archives in PostgreSQL', where: (_dir: string) => undefined },
  { name: 'archives in a shared --blob-dir', where: (dir: string) => join(dir, 'shared-blobs') },
] as const

for (const mode of MODES) {
  describe(`two coordinators on one database, ${mode.name}`, () => {
    test('inputs uploaded through A are fetched on B; /out uploaded through B is downloaded through A; the figures printed', async () => {
      const work = tempDir('shared-blobs')
      cleanups.push(() => rmSync(work, { recursive: true, force: true }))
      const database = await freshDatabase()
      const blobDir = mode.where(work)
      const start = async () => {
        const t = await startTestCoordinator({}, { database, blobDir })
        cleanups.push(() => t.stop())
        return t
      }
      const a: TestCoordinator = await start()
      const b: TestCoordinator = await start()
      expect(a.coord.dataDir).not.toBe(b.coord.dataDir)
      expect(a.coord.blobs.where).toBe(blobDir ?? 'PostgreSQL')
      const bob = await a.addUser('bob')
      const worker = testWorker(`shared-blobs-${blobDir ? 'dir' : 'pg'}`)
      const w = connect(b.coord.wsPort, bob)
      expect(await w.opened).toBe(true)
      w.send(hello(worker))
      await w.next('welcome')

      const inputs = bigArchive(work, 'inputs', 200)
      const outputs = bigArchive(work, 'outputs', 50)
      const send = (t: TestCoordinator, method: string, path: string, token: string, file: string) =>
        fetch(`${t.base}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-tar' },
          body: Bun.file(file),
        })
      const get = (t: TestCoordinator, path: string, token: string) =>
        fetch(`${t.base}${path}`, { headers: { authorization: `Bearer ${token}` } })
      const timed = async <T>(fn: () => Promise<T>) => {
        const t0 = performance.now()
        const value = await fn()
        return { value, s: (performance.now() - t0) / 1000 }
      }

      Bun.gc(true)
      const base = process.memoryUsage.rss()
      const { value: figures, peak } = await peakRss(async () => {
        const up = await timed(async () => {
          const res = await send(a, 'POST', '/api/uploads', a.token, inputs.path)
          expect(res.status).toBe(201)
          return UploadView.parse(await res.json())
        })
        expect(up.value).toEqual({ sha256: inputs.sha256, bytes: inputs.bytes, files: 1 })
        // Submitted through B: the upload (a row) and its archive are the grid's, not A's.
        const spec = { image: 'img', command: ['true'], timeoutMs: 60_000, cpus: 1, memoryBytes: 1024 ** 3 }
        const sub = await b.post('/api/jobs', { ...spec, inputs: { sha256: inputs.sha256 } }, a.token)
        expect(sub.status).toBe(201)
        const id = ((await sub.json()) as { id: string }).id
        const { job } = await w.next('job.assign', 10_000)
        expect(job).toMatchObject({ jobId: id, inputs: { sha256: inputs.sha256, bytes: inputs.bytes } })
        const lease = { jobId: job.jobId, attempt: job.attempt }
        w.send({ type: 'job.started', lease })

        const down = await timed(async () => {
          const res = await get(b, `/api/leases/${id}/${lease.attempt}/inputs`, bob)
          expect(res.status).toBe(200)
          // From a file with its length; from the database chunked (see tarHeaders).
          expect(res.headers.get('content-length')).toBe(blobDir ? String(inputs.bytes) : null)
          return await drain(res)
        })
        expect(down.value).toEqual({ sha256: inputs.sha256, bytes: inputs.bytes })

        const out = await send(b, 'PUT', `/api/leases/${id}/${lease.attempt}/outputs`, bob, outputs.path)
        expect(out.status).toBe(201)
        const o = { sha256: outputs.sha256, bytes: 50 * MB, files: 1 }
        w.send(signedResult(worker, lease, { outputs: o }, { outputsSha256: o.sha256 }))
        await until(
          async () => (await a.coord.store.queue.job(id))?.state === 'succeeded',
          'the job succeeds',
        )
        const res = await get(a, `/api/jobs/${id}/outputs`, a.token)
        expect(res.status).toBe(200)
        expect(res.headers.get('x-gridx-sha256')).toBe(outputs.sha256)
        expect(await drain(res)).toEqual({ sha256: outputs.sha256, bytes: outputs.bytes })
        return { upMBs: inputs.bytes / MB / up.s, downMBs: inputs.bytes / MB / down.s }
      })
      const growthMB = (peak - base) / MB
      console.log(
        `${mode.name}: 200 MB input upload ${figures.upMBs.toFixed(0)} MB/s, download ${figures.downMBs.toFixed(0)} MB/s; RSS growth ${growthMB.toFixed(0)} MB (two coordinators and the client in one process)`,
      )
      // Printed, not asserted: in a test process that ran other files first, RSS grows by 240 MB
      // with streaming intact (the allocator keeps what earlier tests freed), so a bound here would
      // only measure the order of the files. Alone it is ~100 MB for 200 MB moved each way.
    })
  })
}
