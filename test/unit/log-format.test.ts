import { describe, expect, test } from 'bun:test'
import { jsonLine, Logger, LogWriter, textLine, textValue } from '../../src/coordinator/log'

const T = Date.UTC(2025, 0, 2, 3, 4, 5, 678)
/** A worker name chosen to forge a line and recolour a terminal. */
const HOSTILE = 'evil\n2025-01-02T03:04:05.678Z INFO job to=succeeded\u001b[31m "q" a=b \\ \u009b\u202e\u2028'

describe('text lines', () => {
  test('TIME LEVEL event key=value; null and undefined fields are left out', () => {
    expect(
      textLine(T, 'info', 'job', {
        job: 'j1',
        attempt: 2,
        user: 'alice',
        worker: undefined,
        reason: null,
        ok: true,
      }),
    ).toBe('2025-01-02T03:04:05.678Z INFO job job=j1 attempt=2 user=alice ok=true')
    expect(textLine(T, 'warn', 'refused', { status: 401 })).toBe(
      '2025-01-02T03:04:05.678Z WARN refused status=401',
    )
  })

  test('values with spaces, quotes, = or backslashes are quoted, with \\ and " escaped', () => {
    expect(textValue('lease lost')).toBe('"lease lost"')
    expect(textValue('say "hi"')).toBe('"say \\"hi\\""')
    expect(textValue('a=b')).toBe('"a=b"')
    expect(textValue('C:\\x')).toBe('"C:\\\\x"')
    expect(textValue('')).toBe('""')
    expect(textValue('plain-value_1.2')).toBe('plain-value_1.2')
  })

  test('a hostile worker name can neither start a new line nor steer the terminal', () => {
    const line = textLine(T, 'info', 'worker', { worker: HOSTILE, state: 'connected' })
    expect(line.split('\n')).toHaveLength(1)
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202e]/)
    expect(line).toBe(
      '2025-01-02T03:04:05.678Z INFO worker worker="evil\\x0a2025-01-02T03:04:05.678Z INFO job to=succeeded\\x1b[31m \\"q\\" a=b \\\\ \\u009b\\u202e\\u2028" state=connected',
    )
  })

  test("today's free-text lines read as they did, escaped", () => {
    expect(textLine(T, 'info', 'message', { msg: 'worker w1 silent for 20000 ms; closing its socket' })).toBe(
      '2025-01-02T03:04:05.678Z INFO worker w1 silent for 20000 ms; closing its socket',
    )
    expect(textLine(T, 'info', 'message', { msg: 'a\nb\u001b[2J' })).toBe(
      '2025-01-02T03:04:05.678Z INFO a\\x0ab\\x1b[2J',
    )
  })
})

describe('JSON lines', () => {
  test('one object per line that parses back to exactly the values given, hostile ones included', () => {
    const line = jsonLine(T, 'warn', 'job', { job: 'j1', attempt: 1, worker: HOSTILE, reason: null, ms: 1.5 })
    expect(line.split('\n')).toHaveLength(1)
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202e]/)
    expect(JSON.parse(line)).toEqual({
      ts: '2025-01-02T03:04:05.678Z',
      level: 'warn',
      event: 'job',
      job: 'j1',
      attempt: 1,
      worker: HOSTILE,
      ms: 1.5,
    })
  })

  test('fields cannot overwrite ts, level or event', () => {
    expect(JSON.parse(jsonLine(T, 'info', 'job', { event: 'forged', ts: 'x', level: 'error' }))).toEqual({
      ts: '2025-01-02T03:04:05.678Z',
      level: 'info',
      event: 'job',
    })
  })
})

describe('the buffered writer', () => {
  test('many lines become one write after the flush interval, and stop writes the rest', async () => {
    const chunks: string[] = []
    const w = new LogWriter((c) => void chunks.push(c), { flushMs: 20 })
    for (let i = 0; i < 1000; i++) w.write(`line ${i}`)
    expect(chunks).toHaveLength(0)
    await Bun.sleep(200)
    expect(chunks).toHaveLength(1)
    expect(chunks[0]!.split('\n')).toHaveLength(1001)
    w.write('last')
    await w.stop()
    expect(chunks[1]).toBe('last\n')
  })

  test('past flushBytes it writes at once', () => {
    const chunks: string[] = []
    const w = new LogWriter((c) => void chunks.push(c), { flushMs: 60_000, flushBytes: 100 })
    for (let i = 0; i < 10; i++) w.write('x'.repeat(20))
    expect(chunks.length).toBeGreaterThanOrEqual(1)
    void w.stop()
  })

  test('a reader that does not keep up: nothing blocks, the backlog is bounded, the drop is reported', async () => {
    let release: () => void = () => undefined
    const chunks: string[] = []
    const w = new LogWriter(
      (c) => {
        chunks.push(c)
        return new Promise<void>((r) => (release = r))
      },
      { flushMs: 1, flushBytes: 1000, maxBacklogBytes: 10_000, droppedLine: (n) => `dropped ${n}` },
    )
    for (let i = 0; i < 10_000; i++) w.write('y'.repeat(99))
    expect(chunks).toHaveLength(1)
    expect(w.droppedLines).toBeGreaterThan(9000)
    release()
    await Bun.sleep(50)
    expect(chunks).toHaveLength(2)
    expect(chunks[1]).toEndWith(`dropped ${10_000 - 10 - 101}\n`)
    expect(chunks[1]!.split('\n').length - 1).toBe(102)
    release()
    await w.stop()
  })

  test('a reader that went away (EPIPE) ends the log, not the coordinator', async () => {
    let calls = 0
    const w = new LogWriter(() => {
      calls++
      return Promise.reject(new Error('EPIPE'))
    })
    w.write('a')
    w.flush()
    await Bun.sleep(10)
    w.write('b')
    w.flush()
    await w.stop()
    expect(calls).toBe(1)
  })
})

test('the Logger: free text is event message with field msg; events carry their own time', async () => {
  const chunks: string[] = []
  const log = new Logger({ format: 'json', target: (c) => void chunks.push(c), now: () => T })
  log.message('hello "world"')
  log.event('info', 'start', { version: '1.0', tls: false }, T + 1000)
  await log.stop()
  const lines = chunks
    .join('')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
  expect(lines).toEqual([
    { ts: '2025-01-02T03:04:05.678Z', level: 'info', event: 'message', msg: 'hello "world"' },
    { ts: '2025-01-02T03:04:06.678Z', level: 'info', event: 'start', version: '1.0', tls: false },
  ])
})
