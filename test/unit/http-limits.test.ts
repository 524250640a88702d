import { describe, expect, test } from 'bun:test'
import { MeteredBody } from '../../src/coordinator/body-meter'
import { archiveCeiling, BODY_LIMITS, bodyRule } from '../../src/coordinator/http-limits'
import { DEFAULT_SETTINGS } from '../../src/coordinator/settings'
import { GridError } from '../../src/errors'

const s = DEFAULT_SETTINGS

describe('body limits by route', () => {
  test('small for logins and most routes, a few MB for jobs, the archive ceilings for the two uploads', () => {
    expect(bodyRule('POST', '/api/auth/login', s).maxBytes).toBe(16 * 1024)
    expect(bodyRule('POST', '/api/auth/register', s).maxBytes).toBe(16 * 1024)
    expect(bodyRule('POST', '/api/jobs', s).maxBytes).toBe(8 * 1024 * 1024)
    expect(bodyRule('POST', '/api/jobs/abc/cancel', s).maxBytes).toBe(BODY_LIMITS.other)
    expect(bodyRule('POST', '/api/credits/grant', s).maxBytes).toBe(BODY_LIMITS.other)
    const input = archiveCeiling(s.maxInputBytes, s.maxArchiveEntries)
    expect(bodyRule('POST', '/api/uploads', s).maxBytes).toBe(input)
    expect(bodyRule('PUT', '/api/leases/j1/2/outputs', s).maxBytes).toBe(
      archiveCeiling(s.maxOutputBytes, s.maxArchiveEntries),
    )
    // Only the exact upload routes get the large limits.
    expect(bodyRule('PUT', '/api/uploads', s).maxBytes).toBe(BODY_LIMITS.other)
    expect(bodyRule('PUT', '/api/leases/j1/2/outputs/x', s).maxBytes).toBe(BODY_LIMITS.other)
  })

  test('the job limit holds the largest script, base64 in JSON, and the 2 MiB of arguments an exec takes', () => {
    expect(BODY_LIMITS.job).toBeGreaterThan(
      Math.ceil((4 * 1024 * 1024 * 4) / 3) + 2 * 1024 * 1024 + 64 * 1024,
    )
  })
})

/** A stream fed by hand. */
function source() {
  let ctl!: ReadableStreamDefaultController<Uint8Array>
  const stream = new ReadableStream<Uint8Array>({ start: (c) => void (ctl = c) })
  return { stream, push: (n: number) => ctl.enqueue(new Uint8Array(n)), end: () => ctl.close() }
}

async function drain(body: MeteredBody): Promise<number | GridError> {
  let n = 0
  try {
    for await (const chunk of body.stream) n += chunk.byteLength
    return n
  } catch (err) {
    if (err instanceof GridError) return err
    throw err
  }
}

describe('a metered body', () => {
  const rule = { maxBytes: 1000, what: 'a test' }

  test('passes a body within its limit and pace, and says it was read whole', async () => {
    const src = source()
    const body = new MeteredBody(src.stream, rule, { floorMs: 1000, minRate: 1000 })
    src.push(600)
    src.push(400)
    src.end()
    expect(await drain(body)).toBe(1000)
    expect(body.finished).toBe(true)
  })

  test('is cut off with a 413 once it passes the limit, naming it', async () => {
    const src = source()
    const body = new MeteredBody(src.stream, rule, { floorMs: 1000, minRate: 1000 })
    src.push(600)
    src.push(600)
    const err = await drain(body)
    expect(err).toBeInstanceOf(GridError)
    expect((err as GridError).status).toBe(413)
    expect((err as GridError).message).toContain('larger than 1000 B')
    expect(body.finished).toBe(false)
  })

  test('is cut off with a 408 when it falls behind floor + size / rate', async () => {
    const src = source()
    const body = new MeteredBody(src.stream, rule, { floorMs: 200, minRate: 1000 })
    src.push(100) // earns 100 ms more: cut off about 300 ms after the start
    const t0 = performance.now()
    const err = await drain(body)
    expect((err as GridError).code).toBe('body_timeout')
    expect(performance.now() - t0).toBeGreaterThan(250)
  })
})
