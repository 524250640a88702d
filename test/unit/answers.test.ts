import { describe, expect, test } from 'bun:test'
import { type Answer, ERROR, JOB, OUTPUT_EVENT, UPLOAD, WORKERS } from '../../src/client/answers'
import * as Api from '../../src/protocol/api'

// Each hand check of src/client/answers.ts against its zod schema: on valid answers and on every
// one-field damage of them, the check either refuses (the schema then judges) or returns exactly
// what the schema's parse returns. A check that accepted what the schema refuses fails here.

const JOB_SAMPLE = {
  id: 'abc123',
  owner: 'ann',
  state: 'succeeded',
  image: 'python:3.12-slim',
  command: [],
  scriptName: 'job.py',
  args: ['1', '2'],
  timeoutMs: 600000,
  cpus: 1,
  memoryBytes: 536870912,
  attempt: 1,
  priority: 0,
  worker: 'w1',
  waiting: null,
  requirements: ['numpy'],
  requiresPython: '>=3.10',
  exitCode: 0,
  outcome: 'exited',
  error: null,
  inputs: { bytes: 10 },
  outputs: { bytes: 5, files: 1 },
  usage: { wallMs: 100, cpuMs: 50, peakMemoryBytes: null },
  billedMs: 100,
  maxCostMc: 10000,
  costMc: 17,
  createdAt: '2026-01-01T00:00:00Z',
  startedAt: '2026-01-01T00:00:01Z',
  finishedAt: '2026-01-01T00:00:02Z',
  extra: 'dropped',
}
const WORKER_SAMPLE = {
  id: 'w1',
  name: 'box',
  owner: 'ann',
  slots: 2,
  busy: 0,
  cpus: 4,
  memoryBytes: 8e9,
  docker: '27.0',
  images: ['python:*'],
  maxTimeoutMs: null,
  workdirBytes: 1e9,
  packages: true,
  connectedAt: '2026-01-01T00:00:00Z',
}

/** Values of every kind, put in place of each field in turn. */
const WRONG: unknown[] = [
  undefined,
  null,
  0,
  -1.5,
  '',
  'x',
  'stdout',
  'queued',
  true,
  [],
  ['a'],
  [1],
  {},
  { bytes: 1 },
]

/** `v` with each field (to depth 3) replaced by each of WRONG (and a few of its own nested damages). */
function damaged(v: unknown, depth = 0): unknown[] {
  if (depth > 2 || typeof v !== 'object' || v === null) return []
  const out: unknown[] = []
  const list: unknown[] | undefined = Array.isArray(v) ? (v as unknown[]) : undefined
  const entries: [string | number, unknown][] = list ? list.map((x, i) => [i, x]) : Object.entries(v)
  const put = (k: string | number, w: unknown): unknown =>
    list ? list.map((y, i) => (i === k ? w : y)) : { ...v, [k]: w }
  for (const [k, x] of entries) {
    for (const w of WRONG) out.push(put(k, w))
    for (const d of damaged(x, depth + 1)) out.push(put(k, d))
  }
  return out
}

function holdsTo<T>(a: Answer<T>, samples: unknown[]): void {
  const schema = a.schema(Api)
  let accepted = 0
  for (const s of samples) {
    for (const v of [s, ...damaged(s)]) {
      const mine = a.check(v)
      if (mine === undefined) continue
      accepted++
      const theirs = schema.safeParse(v)
      expect({ v, ok: theirs.success }).toEqual({ v, ok: true })
      expect(mine as unknown).toEqual(theirs.data)
    }
  }
  expect(accepted).toBeGreaterThan(samples.length)
}

describe('hand checks of the answers a submit reads', () => {
  test('a job, with and without the fields older coordinators omit', () => {
    const old: Record<string, unknown> = { ...JOB_SAMPLE }
    for (const k of ['requirements', 'requiresPython', 'billedMs']) delete old[k]
    holdsTo(JOB, [
      JOB_SAMPLE,
      old,
      { ...JOB_SAMPLE, usage: null, inputs: null, outputs: null, state: 'queued' },
    ])
    expect(JOB.check(JOB_SAMPLE)).not.toHaveProperty('extra')
    expect(JOB.check(old)).toMatchObject({ requirements: [], requiresPython: null, billedMs: null })
    expect(JOB.check({ ...JOB_SAMPLE, state: 'lost' })).toBeUndefined()
  })

  test('the workers, an upload, an error body', () => {
    const old: Record<string, unknown> = { ...WORKER_SAMPLE }
    for (const k of ['images', 'packages']) delete old[k]
    holdsTo(WORKERS, [[WORKER_SAMPLE, old], []])
    expect(WORKERS.check([old])?.[0]).toMatchObject({ images: ['*'], packages: false })
    holdsTo(UPLOAD, [{ sha256: 'ab', bytes: 3, files: 1 }])
    holdsTo(ERROR, [{ error: { code: 'not_found', message: 'no such job' } }])
  })

  test('every output event type, and only those the schema knows', async () => {
    holdsTo(OUTPUT_EVENT, [
      { type: 'output', stream: 'stderr', data: 'aGk=' },
      { type: 'state', state: 'running', worker: 'w1', reason: null },
      { type: 'state', state: 'queued', worker: null },
      { type: 'state', state: 'queued', worker: null, reason: 'x'.repeat(4096) },
      { type: 'end', job: JOB_SAMPLE },
      { type: 'keepalive' },
    ])
    expect(
      OUTPUT_EVENT.check({ type: 'state', state: 'queued', worker: null, reason: 'x'.repeat(4097) }),
    ).toBeUndefined()
    for (const type of ['toString', 'constructor', '__proto__', 'progress'])
      expect(OUTPUT_EVENT.check({ type })).toBeUndefined()
    const known = Api.OutputEvent.options.map((o) => o.shape.type.value).sort()
    expect([...(await import('../../src/client/answers')).KNOWN_EVENTS].sort()).toEqual(known)
  })
})
