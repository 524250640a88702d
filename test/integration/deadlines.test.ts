import { afterEach, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { createHash } from 'node:crypto'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { startCoordinator } from '../../src/coordinator/server'
import type { Settings } from '../../src/coordinator/settings'
import { packArchive } from '../../src/protocol/archive'
import {
  connect,
  connectWorker,
  hello,
  startTestCoordinator,
  type TestCoordinator,
  until,
} from '../support/coordinator'
import { parseAnswer, rawConnect } from '../support/raw-http'
import { signedResult, testWorker } from '../support/worker-keys'

// The coordinator's own deadlines against what honest workers do: upload /out slowly, report late.

let current: TestCoordinator | undefined
afterEach(async () => {
  await current?.stop()
  current = undefined
})

const worker = testWorker('deadline-worker')
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

async function start(settings: Partial<Settings> = {}) {
  current = await startTestCoordinator({ sweepMs: 100, ...settings })
  return current
}

/** Submits a job with `timeoutMs` as alice; returns its id. */
async function submit(t: TestCoordinator, timeoutMs: number): Promise<string> {
  const spec = { image: 'img', command: ['true'], timeoutMs, cpus: 1, memoryBytes: 64 * 1024 ** 2 }
  const res = await t.post('/api/jobs', spec, t.token)
  expect(res.status).toBe(201)
  return ((await res.json()) as { id: string }).id
}

describe('deadlines', () => {
  test('a job that exited early and uploads /out slowly is not ended as timeout during the upload', async () => {
    // 1 s timeout, 1 s grace: without the upload moving the deadline, it passes 2 s after the start.
    const t = await start({ deadlineGraceMs: 1000, idleTimeoutMs: 1000, minBodyRate: 64 * 1024 })
    const w = await connectWorker(t, worker)
    const id = await submit(t, 1000)
    await w.next('job.assign')
    const lease = { jobId: id, attempt: 1 }
    w.send({ type: 'job.started', lease })
    await until(async () => (await t.coord.store.queue.job(id))?.state === 'running', 'the job runs')
    const began = Date.now()
    await Bun.sleep(300) // the job runs 0.3 s and exits; then its worker uploads /out
    const data = new Uint8Array(300 * 1024).map(() => Math.floor(Math.random() * 256))
    const archive = await packArchive([{ path: 'big.bin', type: 'file', data, mode: 0o644 }])
    const conn = await rawConnect(
      t.coord.httpPort,
      `PUT /api/leases/${id}/1/outputs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.token}\r\nContent-Type: application/x-tar\r\nContent-Length: ${archive.length}\r\n\r\n`,
    )
    // ~100 KiB a second (above the 64 KiB/s minimum): about 3 s for the archive
    for (let at = 0; at < archive.length; at += 10 * 1024) {
      conn.write(archive.subarray(at, at + 10 * 1024))
      await Bun.sleep(100)
    }
    await until(() => conn.received().includes('\r\n\r\n'), 'the upload is answered', 10_000)
    const uploadMs = Date.now() - began
    const answer = parseAnswer(conn.received())
    conn.socket.destroy()
    expect(uploadMs).toBeGreaterThan(2500) // past the deadline set at the start
    expect(answer.status).toBe(201)
    expect((await t.coord.store.queue.job(id))?.state).toBe('running')
    // the result after the upload is on time, and billed what the job used, not its timeout
    const outputs = { sha256: sha256(archive), bytes: data.length, files: 1 }
    w.send(signedResult(worker, lease, { outputs, durationMs: 300 }, { outputsSha256: outputs.sha256 }))
    await w.next('job.ack')
    expect(await t.coord.store.queue.job(id)).toMatchObject({
      state: 'succeeded',
      billedMs: 300,
      outputsSha256: outputs.sha256,
    })
    expect(await t.coord.store.credits.audit()).toMatchObject({ ok: true })
    console.log(`upload took ${uploadMs} ms; the job's deadline was 2000 ms after its start`)
  })

  test('the deadline of the coordinator bills only the time it saw the job run, never the whole timeout', async () => {
    const t = await start()
    const w = await connectWorker(t, worker)
    const id = await submit(t, 600_000)
    await w.next('job.assign')
    w.send({ type: 'job.started', lease: { jobId: id, attempt: 1 } })
    await until(async () => (await t.coord.store.queue.job(id))?.state === 'running', 'the job runs')
    await Bun.sleep(500)
    // A deadline that passes early (set by another coordinator, or before an upgrade): the
    // coordinator ends the job, but it saw it run well under a second, not its 10 minutes.
    const db = new Database(join(t.coord.dataDir, 'gridx.db'))
    db.run('UPDATE jobs SET deadline_at = ? WHERE id = ?', [Date.now() - 1, id])
    db.close()
    await until(
      async () => (await t.coord.store.queue.job(id))?.state === 'failed',
      'the deadline ends the job',
    )
    const job = (await t.coord.store.queue.job(id))!
    expect(job.outcome).toBe('timeout')
    expect(job.billedMs).toBeGreaterThanOrEqual(500)
    expect(job.billedMs).toBeLessThan(10_000)
    expect(await w.next('job.cancel')).toMatchObject({ reason: 'deadline passed' })
    expect(await t.coord.store.credits.audit()).toMatchObject({ ok: true })
  })
})

describe('starts the coordinator learns of late', () => {
  test('a start sent on a later socket bills from the assignment, bounded by the signed run time', async () => {
    const t = await start()
    const first = await connectWorker(t, worker)
    const id = await submit(t, 600_000)
    await first.next('job.assign')
    const lease = { jobId: id, attempt: 1 }
    // The socket drops; the job starts and runs while it is down, its start kept in the outbox.
    first.ws.close()
    await first.closed
    await Bun.sleep(1500)
    const again = await connectWorker(t, worker, [lease])
    again.send({ type: 'job.started', lease })
    again.send(signedResult(worker, lease, { durationMs: 1400 }))
    await again.next('job.ack')
    const job = (await t.coord.store.queue.job(id))!
    // billed the signed 1.4 s: the coordinator saw the lease held for longer since the assignment
    expect(job).toMatchObject({ state: 'succeeded', billedMs: 1400 })
    expect((await t.coord.store.leases.attemptsOf(id))[0]!.startedAt).toBe(
      (await t.coord.store.leases.attemptsOf(id))[0]!.assignedAt,
    )
    expect(await t.coord.store.credits.audit()).toMatchObject({ ok: true })
  })

  test('a start on the socket the job was assigned on bills from the start (a pull before it is free)', async () => {
    const t = await start()
    const w = await connectWorker(t, worker)
    const id = await submit(t, 600_000)
    await w.next('job.assign')
    const lease = { jobId: id, attempt: 1 }
    await Bun.sleep(1000) // pulling the image
    w.send({ type: 'job.started', lease })
    w.send(signedResult(worker, lease, { durationMs: 5000 })) // a claim of more than passed
    await w.next('job.ack')
    expect((await t.coord.store.queue.job(id))!.billedMs).toBeLessThan(900)
  })
})

describe('attempts from before deadlines were kept', () => {
  test('a running attempt without a deadline gets one at the next start, and it is enforced', async () => {
    const t = await start()
    const w = await connectWorker(t, worker)
    const id = await submit(t, 1000)
    await w.next('job.assign')
    w.send({ type: 'job.started', lease: { jobId: id, attempt: 1 } })
    await until(async () => (await t.coord.store.queue.job(id))?.state === 'running', 'the job runs')
    w.ws.close()
    const dataDir = t.coord.dataDir
    await t.coord.stop()
    current = undefined
    // What a database of the earlier release holds for a running job.
    const db = new Database(join(dataDir, 'gridx.db'))
    db.run('UPDATE jobs SET deadline_at = NULL WHERE id = ?', [id])
    db.close()
    let now = Date.now()
    const coord = await startCoordinator({
      host: '127.0.0.1',
      httpPort: 0,
      wsPort: 0,
      dataDir,
      clock: { now: () => now },
      settings: { sweepMs: 100, deadlineGraceMs: 1000, leaseMs: 40_000 },
      log: () => undefined,
    })
    try {
      const deadline = (await coord.store.queue.job(id))?.deadlineAt
      expect(deadline).toBeNumber()
      // kept while workers return (80 s here), then enforced: the worker returns, heartbeats, never reports
      expect(deadline!).toBe(now + 80_000)
      const back = connect(coord.wsPort, t.token)
      expect(await back.opened).toBe(true)
      back.send(hello(worker, [{ jobId: id, attempt: 1 }]))
      await back.next('welcome')
      for (const step of [30_000, 30_000, 21_000]) {
        now += step // the lease, renewed 40 s ahead each time, never runs out
        const renewed = now + 40_000
        back.send({ type: 'heartbeat', running: [{ jobId: id, attempt: 1 }] })
        await until(
          async () =>
            (await coord.store.queue.job(id))?.leaseExpiresAt === renewed ||
            (await coord.store.queue.job(id))?.state === 'failed',
          'renewed',
        )
      }
      await until(
        async () => (await coord.store.queue.job(id))?.state === 'failed',
        'the deadline ends the job',
      )
      back.ws.close()
      // billed its timeout: the coordinator saw it run for longer (the time it was down counts
      // for the worker: its lease was held)
      expect(await coord.store.queue.job(id)).toMatchObject({ outcome: 'timeout', billedMs: 1000 })
      expect(await coord.store.credits.audit()).toMatchObject({ ok: true })
    } finally {
      await coord.stop()
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})
