import { describe, expect, test } from 'bun:test'
import { SocketAllowance, TokenBucket } from '../../src/coordinator/budget'
import { OUTPUT_CHUNK_BYTES, type WorkerMessage } from '../../src/protocol/worker'
import { flushWindowMs, OutputBatcher } from '../../src/worker/output'
import { Outgoing } from '../../src/worker/outgoing'
import { Pacer } from '../../src/worker/pacer'

// Both ends of the per-socket budget: the coordinator's buckets, the worker's batching and pace.

describe('TokenBucket and SocketAllowance (the coordinator)', () => {
  test('a full bucket allows its burst at once, then its rate', () => {
    const b = new TokenBucket(10, 50, 0)
    let taken = 0
    while (b.take(1, 0)) taken++
    expect(taken).toBe(50)
    expect(b.take(1, 50)).toBe(false) // 0.5 of a token after 50 ms
    expect(b.take(1, 100)).toBe(true) // one token after 100 ms
    expect(b.take(1, 100)).toBe(false)
    // never more than the burst saved up, however long it waits
    taken = 0
    while (b.take(1, 1_000_000)) taken++
    expect(taken).toBe(50)
  })

  test('a socket goes past its budget by count or by bytes, whichever comes first', () => {
    const budget = { messagesPerSecond: 100, burstMessages: 200, bytesPerSecond: 1000, burstBytes: 5000 }
    const byCount = new SocketAllowance(budget, 0)
    let n = 0
    while (byCount.admit(1, 0)) n++
    expect(n).toBe(200)
    const byBytes = new SocketAllowance(budget, 0)
    n = 0
    while (byBytes.admit(1000, 0)) n++
    expect(n).toBe(5)
    expect(byBytes.admit(1000, 999)).toBe(false)
    expect(byBytes.admit(1000, 1000)).toBe(true)
  })
})

describe('OutputBatcher (the worker)', () => {
  const collect = () => {
    const sent: { stream: string; seq: number; data: string }[] = []
    const batcher = new OutputBatcher((stream, seq, data) =>
      sent.push({ stream, seq, data: data.toString() }),
    )
    return { sent, batcher }
  }

  test('a job alternating stdout and stderr sends one chunk per stream per window, each in order', async () => {
    const { sent, batcher } = collect()
    for (let i = 0; i < 1000; i++) batcher.push(i % 2 ? 'stderr' : 'stdout', Buffer.from(`${i % 10}`))
    expect(sent).toEqual([])
    await Bun.sleep(100)
    expect(sent.map((s) => [s.stream, s.seq])).toEqual([
      ['stdout', 0],
      ['stderr', 1],
    ])
    expect(sent[0]!.data).toBe('02468'.repeat(100))
    expect(sent[1]!.data).toBe('13579'.repeat(100))
  })

  test('no chunk is larger than OUTPUT_CHUNK_BYTES, however large one write is', () => {
    const { sent, batcher } = collect()
    batcher.push('stdout', Buffer.alloc(OUTPUT_CHUNK_BYTES * 2 + 10, 'a'))
    expect(sent.map((s) => s.data.length)).toEqual([OUTPUT_CHUNK_BYTES, OUTPUT_CHUNK_BYTES, 10])
    expect(sent.map((s) => s.seq)).toEqual([0, 1, 2])
    batcher.push('stdout', Buffer.alloc(0))
    batcher.flush()
    expect(sent).toHaveLength(3)
  })

  test('the window widens with the number of running jobs, to 1 s at most', () => {
    expect([1, 4, 5, 8, 16, 64, 160, 256].map(flushWindowMs)).toEqual([25, 25, 50, 50, 100, 400, 1000, 1000])
    // so 256 jobs alternating streams send at most 2 x 256 chunks a second
    expect((2 * 256 * 1000) / flushWindowMs(256)).toBeLessThanOrEqual(512)
    for (let n = 1; n <= 256; n++) expect((2 * n * 1000) / flushWindowMs(n)).toBeLessThanOrEqual(512)
  })
})

describe('Pacer (the worker)', () => {
  const beat: WorkerMessage = { type: 'heartbeat', running: [] }
  const out = (seq: number): WorkerMessage => ({
    type: 'job.output',
    lease: { jobId: 'j', attempt: 1 },
    seq,
    stream: 'stdout',
    dataBase64: '',
  })

  test('sends at half the budget, in order; a heartbeat goes ahead of waiting output', async () => {
    const written: string[] = []
    const began = performance.now()
    const pacer = new Pacer((t) => written.push(t), { messagesPerSecond: 200, bytesPerSecond: 1e9 })
    for (let i = 0; i < 250; i++) pacer.send(out(i))
    // a full bucket is one second at the pace: 100 messages at once, the rest wait
    expect(written).toHaveLength(100)
    expect(pacer.waiting).toBe(150)
    pacer.urgent(beat)
    expect(JSON.parse(written.at(-1)!)).toEqual(beat)
    while (pacer.waiting > 0) await Bun.sleep(20)
    const elapsed = performance.now() - began
    // 151 more messages at 100 a second cannot take less than 1.5 s (however loaded the machine)
    expect(elapsed).toBeGreaterThan(1400)
    const seqs = written
      .map((t) => JSON.parse(t) as WorkerMessage)
      .flatMap((m) => (m.type === 'job.output' ? [m.seq] : []))
    expect(seqs).toEqual(Array.from({ length: 250 }, (_, i) => i))
  })

  test('bytes are paced too, and a message larger than a full bucket still goes', () => {
    const written: string[] = []
    const pacer = new Pacer((t) => written.push(t), { messagesPerSecond: 1e6, bytesPerSecond: 2000 })
    pacer.send({ ...out(0), dataBase64: 'A'.repeat(4000) } as WorkerMessage)
    expect(written).toHaveLength(1) // larger than the 1000-byte bucket, but the bucket was full
    pacer.send(out(1))
    expect(written).toHaveLength(1)
    expect(pacer.takeWaiting()).toEqual([out(1)])
    expect(pacer.waiting).toBe(0)
  })

  test("a start or a result goes ahead of other jobs' waiting output, after its own job's", () => {
    const written: WorkerMessage[] = []
    const outgoing = new Outgoing((t) => written.push(JSON.parse(t) as WorkerMessage))
    // 10 messages a second at the pace: a full bucket of 10, then one every 100 ms
    outgoing.open({ messagesPerSecond: 20, bytesPerSecond: 1e9 })
    const chunk = (jobId: string, seq: number): WorkerMessage => ({
      type: 'job.output',
      lease: { jobId, attempt: 1 },
      seq,
      stream: 'stdout',
      dataBase64: '',
    })
    for (let i = 0; i < 100; i++) outgoing.send(chunk(i % 10 === 9 ? 'b' : 'a', i))
    const b = { jobId: 'b', attempt: 1 }
    outgoing.send({ type: 'job.started', lease: { jobId: 'c', attempt: 1 } })
    outgoing.send({ type: 'job.result', lease: b } as WorkerMessage)
    expect(written).toHaveLength(10)
    // what waits: c's start first, then b's own output (seq 19, 29, ... 99), then its result, then a's
    const waiting = outgoing['pacer']!.takeWaiting()
    expect(waiting[0]).toMatchObject({ type: 'job.started', lease: { jobId: 'c' } })
    const own = waiting.slice(1, 10)
    expect(own.map((m) => (m.type === 'job.output' ? [m.lease.jobId, m.seq] : m.type))).toEqual(
      Array.from({ length: 9 }, (_, i) => ['b', 19 + 10 * i]),
    )
    expect(waiting[10]).toMatchObject({ type: 'job.result', lease: b })
    expect(waiting.slice(11).every((m) => m.type === 'job.output' && m.lease.jobId === 'a')).toBe(true)
    expect(waiting).toHaveLength(92)
  })
})
