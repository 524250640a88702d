import { describe, expect, test } from 'bun:test'
import { outputEvent } from '../../src/client/api'

// The client's reading of the NDJSON output stream: later releases may add event types.

describe('outputEvent', () => {
  test('known events are read; a keepalive is one of them', async () => {
    expect(await outputEvent('{"type":"output","stream":"stdout","data":"aGk="}')).toEqual({
      type: 'output',
      stream: 'stdout',
      data: 'aGk=',
    })
    expect(await outputEvent('{"type":"keepalive"}')).toEqual({ type: 'keepalive' })
  })

  test('an event type this client does not know is skipped, not thrown', async () => {
    expect(await outputEvent('{"type":"progress","percent":40}')).toBeUndefined()
    expect(await outputEvent('{"type":"keepalive2"}')).toBeUndefined()
  })

  test('a known event it cannot read, or a line that is not JSON, is a clear error', async () => {
    // The words of the schema's refusal are kept: the hand check refused, zod says why.
    const refused = await outputEvent('{"type":"output","stream":"stdin","data":""}').catch((e: unknown) => e)
    expect(String(refused)).toMatch(/output event this client cannot read: .*stream/s)
    const notJson = await outputEvent('not json').catch((e: unknown) => e)
    expect(String(notJson)).toMatch(/not JSON: not json/)
  })
})
