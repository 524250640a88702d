import { afterEach, describe, expect, test } from 'bun:test'
import { openPostgres } from '../../src/coordinator/store/postgres'
import type { Store } from '../../src/coordinator/store/types'
import type { OutputEvent } from '../../src/protocol/api'
import { connectWorker, startTestCoordinator, type TestCoordinator, until } from '../support/coordinator'
import { freshDatabase } from '../support/postgres'
import { signedResult, testWorker } from '../support/worker-keys'

// What the coordinators of a grid tell each other about a job: its end always (with the queue's
// batched changes), its other events only once a client follows it on another coordinator.
// A third store on the same database listens in on the channel, as any coordinator does.

let open: TestCoordinator[] = []
let listener: Store | undefined
afterEach(async () => {
  for (const c of open.reverse()) await c.stop().catch(() => {})
  open = []
  await listener?.close()
  listener = undefined
})

interface Heard {
  t: string
  jobId?: string
  ended?: string[]
  followed?: string[]
  event?: { type: string; state?: string }
}

async function grid(): Promise<{ a: TestCoordinator; b: TestCoordinator; heard: Heard[] }> {
  const database = await freshDatabase()
  const coords: TestCoordinator[] = []
  for (let i = 0; i < 2; i++) {
    const c = await startTestCoordinator({ sweepMs: 200 }, { database, log: () => {} })
    coords.push(c)
    open.push(c)
  }
  listener = await openPostgres(database)
  const heard: Heard[] = []
  await listener.bus.subscribe(
    (text) => void heard.push(JSON.parse(text) as Heard),
    () => {},
  )
  return { a: coords[0]!, b: coords[1]!, heard }
}

async function follow(t: TestCoordinator, id: string): Promise<OutputEvent[]> {
  const res = await fetch(`${t.base}/api/jobs/${id}/output?follow=1`, {
    headers: { authorization: `Bearer ${t.token}` },
  })
  const lines: OutputEvent[] = []
  for (const l of (await res.text()).split('\n')) if (l) lines.push(JSON.parse(l) as OutputEvent)
  return lines
}

describe('grid relay', () => {
  test('a job nobody follows elsewhere: its end is told in a queue message, none of its events on their own', async () => {
    const { b, heard } = await grid()
    const worker = testWorker('worker-relay-1')
    const ws = await connectWorker(b, worker)
    const id = await b.submit()
    await ws.next('job.assign', 10_000)
    const lease = { jobId: id, attempt: 1 }
    ws.send({ type: 'job.started', lease })
    ws.send(signedResult(worker, lease, { exitCode: 0, durationMs: 10 }))
    await ws.next('job.ack')
    await until(async () => Promise.resolve(heard.some((m) => m.ended?.includes(id))), 'its end told')
    expect(heard.filter((m) => m.t === 'job' && m.jobId === id)).toEqual([])
  })

  test('a job followed on another coordinator: its states reach the follower there, then its end', async () => {
    const { a, b, heard } = await grid()
    const id = await a.submit()
    const followed = follow(a, id)
    // B hears of the follower before any worker can take the job.
    await until(async () => Promise.resolve(heard.some((m) => m.followed?.includes(id))), 'follow told')
    const worker = testWorker('worker-relay-2')
    const ws = await connectWorker(b, worker)
    await ws.next('job.assign', 10_000)
    const lease = { jobId: id, attempt: 1 }
    ws.send({ type: 'job.started', lease })
    await until(
      async () => Promise.resolve(heard.some((m) => m.jobId === id && m.event?.state === 'running')),
      'running told',
    )
    ws.send(signedResult(worker, lease, { exitCode: 0, durationMs: 10 }))
    await ws.next('job.ack')
    const lines = await followed
    const states = lines.filter((l) => l.type === 'state').map((l) => (l as { state: string }).state)
    expect(states).toEqual(['assigned', 'running'])
    expect(lines.at(-1)).toMatchObject({ type: 'end', job: { state: 'succeeded', exitCode: 0 } })
  })
})
