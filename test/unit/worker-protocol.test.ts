import { describe, expect, test } from 'bun:test'
import {
  CoordinatorMessage,
  OUTPUT_CHUNK_BYTES,
  parseFrame,
  otherVersion,
  PROTOCOL_VERSION,
  WORKER_LIMITS,
  WorkerMessage,
  type JobSpec,
} from '../../src/protocol/worker'
import { newSigningKey } from '../../src/protocol/receipt'

const lease = { jobId: 'abc123', attempt: 1 }
const hello = {
  type: 'hello',
  v: PROTOCOL_VERSION,
  workerId: 'worker-0001',
  name: 'lab-pc',
  version: '0.1.0',
  slots: 2,
  cpus: 4,
  memoryBytes: 8 * 1024 ** 3,
  docker: '27.0.1',
  publicKey: newSigningKey().publicKey,
  running: [],
  policy: { maxTimeoutMs: null, images: ['python:*'] },
}
const receipt = { body: '{}', signature: 'c2ln' }
const job: JobSpec = {
  jobId: 'abc123',
  attempt: 1,
  image: 'python:3.12-slim',
  command: [],
  script: { name: 'job.py', contentBase64: Buffer.from('print(1)').toString('base64') },
  args: ['--n', '3'],
  timeoutMs: 60_000,
  cpus: 1,
  memoryBytes: 512 * 1024 ** 2,
  inputs: null,
  logLimitBytes: 1024,
  outputLimitBytes: 1024,
  requirements: [],
  requiresPython: null,
  env: { SEED: '7' },
  array: null,
}

function worker(msg: unknown) {
  return parseFrame(WorkerMessage, JSON.stringify(msg))
}
function coordinator(msg: unknown) {
  return parseFrame(CoordinatorMessage, JSON.stringify(msg))
}
/** The error text of a refused frame; fails the test if the frame was accepted. */
function refused(r: { ok: true } | { ok: false; error: string }): string {
  if (r.ok) throw new Error('frame was accepted')
  return r.error
}

/** Matches zod's pointer to the failing field, e.g. `→ at slots`. */
const at = (path: string) => new RegExp(`→ at ${path.replaceAll('.', '\\.')}$`, 'm')

describe('parseFrame: not JSON', () => {
  test('text that is not JSON is refused with a plain reason, not a throw', () => {
    for (const raw of ['', 'hello', '{"type":', '{type: "hello"}', 'undefined']) {
      expect(parseFrame(WorkerMessage, raw)).toEqual({ ok: false, error: 'frame is not JSON' })
    }
  })

  test('binary frames are decoded as UTF-8 text', () => {
    const text = JSON.stringify({ type: 'heartbeat', running: [lease] })
    const want = { ok: true, msg: { type: 'heartbeat', running: [lease] } } as never
    expect(parseFrame(WorkerMessage, Buffer.from(text))).toEqual(want)
    expect(parseFrame(WorkerMessage, new TextEncoder().encode(text))).toEqual(want)
    expect(parseFrame(WorkerMessage, new TextEncoder().encode(text).buffer)).toEqual(want)
    expect(refused(parseFrame(WorkerMessage, new Uint8Array([0xff, 0xfe])))).toBe('frame is not JSON')
  })

  test('valid JSON that is not an object is refused by the schema', () => {
    for (const raw of ['null', '42', '"hello"', '[]', 'true']) {
      const r = parseFrame(WorkerMessage, raw)
      expect(r.ok).toBe(false)
      expect(refused(r)).not.toBe('frame is not JSON')
    }
  })
})

describe('parseFrame: WorkerMessage', () => {
  test('a good hello; one from an older worker gets no working-directory size (null)', () => {
    const sized = { ...hello, policy: { ...hello.policy, workdirBytes: 4 * 1024 ** 3 } }
    expect(worker(sized)).toEqual({ ok: true, msg: sized } as never)
    const older = { ...hello, policy: { ...hello.policy, workdirBytes: null } }
    expect(worker(hello)).toEqual({ ok: true, msg: older } as never)
  })

  test('a hello of another protocol version is refused, naming the field', () => {
    const error = refused(worker({ ...hello, v: 1 }))
    expect(error).toMatch(at('v'))
    expect(error).toContain('expected 2')
    expect(refused(worker({ ...hello, v: '2' }))).toMatch(at('v'))
    expect(refused(worker({ ...hello, v: undefined }))).toMatch(at('v'))
    // what the coordinator then says instead of the schema's words
    expect(otherVersion(JSON.stringify({ ...hello, v: 1 }), 'hello')).toBe('1')
    expect(otherVersion(JSON.stringify({ ...hello, v: '2' }), 'hello')).toBe('none')
    expect(otherVersion(JSON.stringify(hello), 'hello')).toBeUndefined()
    expect(otherVersion(JSON.stringify({ ...hello, v: 1 }), 'welcome')).toBeUndefined()
    expect(otherVersion('not json', 'hello')).toBeUndefined()
  })

  test('an unknown or missing type is refused', () => {
    expect(refused(worker({ type: 'goodbye' }))).toMatch(/Invalid discriminator value[^]*→ at type$/)
    expect(refused(worker({ running: [] }))).toMatch(/Invalid discriminator value[^]*→ at type$/)
    // A coordinator message is not a worker message.
    expect(worker({ type: 'welcome', v: 1, workerId: 'w', heartbeatMs: 5000 }).ok).toBe(false)
  })

  test('missing fields are refused and named', () => {
    expect(refused(worker({ ...hello, slots: undefined }))).toMatch(at('slots'))
    expect(refused(worker({ type: 'heartbeat' }))).toMatch(at('running'))
    expect(refused(worker({ type: 'job.started' }))).toMatch(at('lease'))
    expect(refused(worker({ type: 'job.output', lease, seq: 0, stream: 'stdout' }))).toMatch(at('dataBase64'))
  })

  test('fields out of range are refused', () => {
    expect(worker({ ...hello, slots: 0 }).ok).toBe(false)
    expect(worker({ ...hello, slots: 1.5 }).ok).toBe(false)
    expect(worker({ ...hello, workerId: 'short' }).ok).toBe(false)
    expect(worker({ ...hello, workerId: 'has spaces in it' }).ok).toBe(false)
    expect(worker({ ...hello, name: '' }).ok).toBe(false)
    expect(worker({ type: 'job.started', lease: { jobId: 'a', attempt: 0 } }).ok).toBe(false)
    expect(worker({ type: 'job.output', lease, seq: -1, stream: 'stdout', dataBase64: '' }).ok).toBe(false)
    expect(worker({ type: 'job.output', lease, seq: 0, stream: 'stdin', dataBase64: '' }).ok).toBe(false)
  })

  test('good heartbeat, started and output frames', () => {
    expect(worker({ type: 'heartbeat', running: [lease] })).toEqual({
      ok: true,
      msg: { type: 'heartbeat', running: [lease] },
    })
    expect(worker({ type: 'job.started', lease }).ok).toBe(true)
    const out = { type: 'job.output', lease, seq: 3, stream: 'stderr', dataBase64: 'aGk=' }
    expect(worker(out)).toEqual({ ok: true, msg: out } as never)
  })

  test('a job.result defaults retryable, usage and outputs and checks its outcome', () => {
    const result = {
      type: 'job.result',
      lease,
      outcome: 'exited',
      exitCode: 0,
      error: null,
      durationMs: 12,
      receipt,
    }
    const defaults = { retryable: false, usage: { cpuMs: null, peakMemoryBytes: null }, outputs: null }
    expect(worker(result)).toEqual({ ok: true, msg: { ...result, ...defaults } } as never)
    const retry = { ...result, outcome: 'error', exitCode: null, error: 'docker died', retryable: true }
    expect(worker(retry)).toEqual({ ok: true, msg: { ...defaults, ...retry } } as never)
    for (const outcome of ['oom', 'output_limit']) expect(worker({ ...result, outcome }).ok).toBe(true)
    const outputs = { sha256: 'a'.repeat(64), bytes: 10, files: 1 }
    const usage = { cpuMs: 1500, peakMemoryBytes: 1024 }
    expect(worker({ ...result, usage, outputs })).toEqual({
      ok: true,
      msg: { ...result, ...defaults, usage, outputs },
    } as never)
    expect(refused(worker({ ...result, outputs: { ...outputs, sha256: 'nope' } }))).toMatch(
      at('outputs.sha256'),
    )
    expect(refused(worker({ ...result, outcome: 'exploded' }))).toMatch(at('outcome'))
    expect(refused(worker({ ...result, exitCode: 1.5 }))).toMatch(at('exitCode'))
    expect(refused(worker({ ...result, durationMs: -1 }))).toMatch(at('durationMs'))
    expect(refused(worker({ ...result, receipt: undefined }))).toMatch(at('receipt'))
    expect(refused(worker({ ...result, receipt: { body: '{}' } }))).toMatch(at('receipt.signature'))
  })

  test('a hello needs a base64 Ed25519 public key', () => {
    expect(refused(worker({ ...hello, publicKey: undefined }))).toMatch(at('publicKey'))
    expect(refused(worker({ ...hello, publicKey: 'short' }))).toMatch(at('publicKey'))
    const long = Buffer.alloc(33).toString('base64')
    expect(refused(worker({ ...hello, publicKey: long }))).toMatch(at('publicKey'))
  })

  test('good drain and release frames; a release names its lease and reason', () => {
    expect(worker({ type: 'drain' })).toEqual({ ok: true, msg: { type: 'drain' } })
    const release = { type: 'job.release', lease, reason: 'worker stopped' }
    expect(worker(release)).toEqual({ ok: true, msg: release } as never)
    expect(refused(worker({ type: 'job.release', lease }))).toMatch(at('reason'))
    expect(refused(worker({ type: 'job.release', reason: 'x' }))).toMatch(at('lease'))
  })
})

describe('parseFrame: CoordinatorMessage', () => {
  test('good frames of every type', () => {
    const frames = [
      { type: 'welcome', v: PROTOCOL_VERSION, workerId: 'worker-0001', heartbeatMs: 5000 },
      { type: 'job.assign', job },
      { type: 'job.assign', job: { ...job, script: null, command: ['echo', 'hi'] } },
      { type: 'job.cancel', lease, reason: 'cancelled by its owner' },
      { type: 'job.ack', lease },
      { type: 'job.refused', lease, code: 'lease_not_held', message: 'not yours', retry: false },
      { type: 'job.refused', lease, code: 'busy', message: 'later', retry: true },
      { type: 'error', code: 'bad_message', message: 'nope' },
      {
        type: 'welcome',
        v: PROTOCOL_VERSION,
        workerId: 'w',
        heartbeatMs: 5000,
        budget: { messagesPerSecond: 2000, bytesPerSecond: 1e6 },
      },
    ]
    for (const f of frames) expect(coordinator(f)).toEqual({ ok: true, msg: f } as never)
  })

  test('a welcome of another version is refused', () => {
    expect(refused(coordinator({ type: 'welcome', v: 0, workerId: 'w', heartbeatMs: 5000 }))).toMatch(at('v'))
  })

  test('unknown type and missing fields', () => {
    expect(coordinator({ type: 'job.pause', lease }).ok).toBe(false)
    expect(refused(coordinator({ type: 'job.cancel', lease }))).toMatch(at('reason'))
    expect(refused(coordinator({ type: 'job.assign', job: { ...job, timeoutMs: undefined } }))).toMatch(
      at('job.timeoutMs'),
    )
    expect(coordinator({ type: 'job.assign', job: { ...job, timeoutMs: 0 } }).ok).toBe(false)
    expect(coordinator({ type: 'welcome', v: 1, workerId: 'w', heartbeatMs: -5 }).ok).toBe(false)
  })
})

describe('parseFrame: every number and length a worker sends is bounded', () => {
  const result = {
    type: 'job.result',
    lease,
    outcome: 'exited',
    exitCode: 0,
    error: null,
    durationMs: 12,
    receipt,
  }
  const output = (dataBase64: string) => ({ type: 'job.output', lease, seq: 0, stream: 'stdout', dataBase64 })

  test('a hello with impossible CPUs, memory, versions or leases is refused, naming the field', () => {
    expect(refused(worker({ ...hello, cpus: 1e308 }))).toMatch(at('cpus'))
    expect(worker({ ...hello, cpus: WORKER_LIMITS.cpus }).ok).toBe(true)
    expect(refused(worker({ ...hello, cpus: WORKER_LIMITS.cpus + 1 }))).toMatch(at('cpus'))
    expect(refused(worker({ ...hello, memoryBytes: 2 ** 53 }))).toMatch(at('memoryBytes'))
    expect(refused(worker({ ...hello, slots: 257 }))).toMatch(at('slots'))
    expect(refused(worker({ ...hello, version: 'x'.repeat(129) }))).toMatch(at('version'))
    expect(refused(worker({ ...hello, docker: 'x'.repeat(129) }))).toMatch(at('docker'))
    const many = Array.from({ length: WORKER_LIMITS.leases + 1 }, () => lease)
    expect(refused(worker({ ...hello, running: many }))).toMatch(at('running'))
    expect(worker({ ...hello, running: many.slice(1) }).ok).toBe(true)
    expect(refused(worker({ ...hello, running: [{ jobId: 'j'.repeat(65), attempt: 1 }] }))).toContain(
      '→ at running[0].jobId',
    )
    expect(refused(worker({ ...hello, running: [{ jobId: 'j', attempt: 1e12 }] }))).toContain(
      '→ at running[0].attempt',
    )
    const policy = { maxTimeoutMs: null, images: ['*'], workdirBytes: null }
    expect(refused(worker({ ...hello, policy: { ...policy, maxTimeoutMs: 1e15 } }))).toMatch(
      at('policy.maxTimeoutMs'),
    )
    expect(refused(worker({ ...hello, policy: { ...policy, workdirBytes: 2 ** 53 } }))).toMatch(
      at('policy.workdirBytes'),
    )
  })

  test('heartbeats, releases and results are bounded too', () => {
    const many = Array.from({ length: WORKER_LIMITS.leases + 1 }, () => lease)
    expect(refused(worker({ type: 'heartbeat', running: many }))).toMatch(at('running'))
    const long = 'x'.repeat(WORKER_LIMITS.text + 1)
    expect(refused(worker({ type: 'job.release', lease, reason: long }))).toMatch(at('reason'))
    expect(refused(worker({ ...result, error: long }))).toMatch(at('error'))
    expect(refused(worker({ ...result, durationMs: 1e300 }))).toMatch(at('durationMs'))
    expect(refused(worker({ ...result, usage: { cpuMs: 1e300, peakMemoryBytes: null } }))).toMatch(
      at('usage.cpuMs'),
    )
    expect(refused(worker({ ...result, usage: { cpuMs: null, peakMemoryBytes: 1e300 } }))).toMatch(
      at('usage.peakMemoryBytes'),
    )
    const outputs = { sha256: 'a'.repeat(64), bytes: 1e300, files: 1 }
    expect(refused(worker({ ...result, outputs }))).toMatch(at('outputs.bytes'))
    expect(refused(worker({ ...result, outputs: { ...outputs, bytes: 1, files: 1e12 } }))).toMatch(
      at('outputs.files'),
    )
    const bigBody = { body: 'x'.repeat(WORKER_LIMITS.receiptBody + 1), signature: 'c2ln' }
    expect(refused(worker({ ...result, receipt: bigBody }))).toMatch(at('receipt.body'))
    const bigSig = { body: '{}', signature: 'A'.repeat(WORKER_LIMITS.signature + 4) }
    expect(refused(worker({ ...result, receipt: bigSig }))).toMatch(at('receipt.signature'))
  })

  test('output must be strict base64 of at most twice the chunk the worker sends', () => {
    for (const bad of ['not base64!', 'aGk', 'aGk=\n', ' aGk=', 'a===', 'aG=k', '====']) {
      expect(refused(worker(output(bad)))).toMatch(at('dataBase64'))
    }
    expect(worker(output('')).ok).toBe(true)
    expect(worker(output('aGk=')).ok).toBe(true)
    const chunk = Buffer.alloc(2 * OUTPUT_CHUNK_BYTES, 7).toString('base64')
    expect(worker(output(chunk)).ok).toBe(true)
    const over = Buffer.alloc(2 * OUTPUT_CHUNK_BYTES + 3, 7).toString('base64')
    expect(refused(worker(output(over)))).toMatch(at('dataBase64'))
    expect(refused(worker({ ...output('aGk='), seq: 1e10 }))).toMatch(at('seq'))
  })
})
