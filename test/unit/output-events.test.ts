import { describe, expect, test } from 'bun:test'
import { outputEvent } from '../../src/client/api'

// The client's reading of the NDJSON output stream: later releases may add event types.

describe('outputEvent', () => {
  test('known events are read; a keepalive is one of them', () => {
    expect(outputEvent('{"type":"output","stream":"stdout","data":"aGk="}')).toEqual({
      type: 'output',
      stream: 'stdout',
      data: 'aGk=',
    })
    expect(outputEvent('{"type":"keepalive"}')).toEqual({ type: 'keepalive' })
  })

  test('an event type this client does not know is skipped, not thrown', () => {
    expect(outputEvent('{"type":"progress","percent":40}')).toBeUndefined()
    expect(outputEvent('{"type":"keepalive2"}')).toBeUndefined()
  })

  test('a known event it cannot read, or a line that is not JSON, is a clear error', () => {
    expect(() => outputEvent('{"type":"output","stream":"stdin","data":""}')).toThrow(
      /output event this client cannot read/,
    )
    expect(() => outputEvent('not json')).toThrow(/not JSON: not json/)
  })
})
