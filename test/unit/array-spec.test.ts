import { describe, expect, test } from 'bun:test'
import { parseArraySpec } from '../../src/protocol/array-spec'
import { isArrayId, newArrayId, newId } from '../../src/protocol/ids'
import { QueueIndex } from '../../src/coordinator/queue-index'
import type { QueuedJob } from '../../src/coordinator/store'

describe('--array specs', () => {
  test('ranges, steps, lists, combined lists and caps', () => {
    expect(parseArraySpec('0-3', 100)).toEqual({ indexes: [0, 1, 2, 3], cap: null })
    expect(parseArraySpec('1-7:2', 100)).toEqual({ indexes: [1, 3, 5, 7], cap: null })
    expect(parseArraySpec('0,4,9', 100)).toEqual({ indexes: [0, 4, 9], cap: null })
    expect(parseArraySpec('10-12,0-6:3, 20', 100)).toEqual({ indexes: [0, 3, 6, 10, 11, 12, 20], cap: null })
    expect(parseArraySpec('0-99%10', 10_000)).toEqual({ indexes: [...Array(100).keys()], cap: 10 })
    expect(parseArraySpec('5', 1)).toEqual({ indexes: [5], cap: null })
    expect(parseArraySpec('0-8:4%1', 10)).toEqual({ indexes: [0, 4, 8], cap: 1 })
  })

  test('bad specs say what is wrong', () => {
    const bad = (spec: string, max = 100) => {
      const r = parseArraySpec(spec, max)
      expect(typeof r).toBe('string')
      return r as string
    }
    expect(bad('')).toContain('lists indexes')
    expect(bad('a-b')).toContain("'a-b' is not an index")
    expect(bad('5-1')).toContain('goes backwards')
    expect(bad('0-9:0')).toContain('step of 0-9:0 must be 1 or more')
    expect(bad('0-9%0')).toContain("'%0' is not a cap")
    expect(bad('0-9%x')).toContain("'%x' is not a cap")
    expect(bad('0-9%2%3')).toContain('more than one %')
    expect(bad('0-3,2')).toContain('index 2 appears twice')
    expect(bad('-1')).toContain("'-1' is not an index")
    expect(bad('0-100', 100)).toContain('at most 100 members')
    expect(bad('0-50,60-110', 100)).toContain('at most 100 members')
    expect(bad('0-2000000', 10_000_000)).toContain('array indexes go up to 1000000')
    // Refused by counting, not by building.
    expect(bad('0-999999', 10)).toContain('at most 10 members')
  })

  test('array ids are job ids plus one character, in the same alphabet', () => {
    const a = newArrayId()
    expect(a).toMatch(/^[a-km-np-z2-9]{13}$/)
    expect(isArrayId(a)).toBe(true)
    expect(isArrayId(newId())).toBe(false)
  })
})

describe('the queue index counts each array running', () => {
  const member = (id: string, arrayId: string | null, cap: number | null) =>
    ({ id, ownerId: 'u', priority: 0, createdAt: 1, arrayId, arrayCap: cap }) as unknown as QueuedJob

  test('capped once its array runs `cap` members; a member ending frees a place; a restart recounts', () => {
    const index = new QueueIndex()
    const a = member('j1', 'arr', 2)
    expect(index.capped(a)).toBe(false)
    index.started('j1', 'u', 'arr')
    index.started('j2', 'u', 'arr')
    index.started('j2', 'u', 'arr') // counted once
    expect(index.runningOfArray('arr')).toBe(2)
    expect(index.capped(member('j3', 'arr', 2))).toBe(true)
    expect(index.capped(member('x', null, null))).toBe(false)
    index.stopped('j1')
    expect(index.capped(member('j3', 'arr', 2))).toBe(false)
    index.countActive([
      { id: 'k1', ownerId: 'u', arrayId: 'arr' },
      { id: 'k2', ownerId: 'u', arrayId: 'arr' },
    ])
    expect(index.runningOfArray('arr')).toBe(2)
    index.stopped('k1')
    index.stopped('k2')
    expect(index.runningOfArray('arr')).toBe(0)
  })
})
