import { describe, expect, test } from 'bun:test'
import { newId, newOrderedId } from '../../src/protocol/ids'

describe('ids', () => {
  test('random ids: 12 characters people can type', () => {
    for (let i = 0; i < 1000; i++) expect(newId()).toMatch(/^[a-km-np-z2-9]{12}$/)
  })

  test('ordered ids look the same, sort by time, and never repeat within a process', () => {
    const ids: string[] = []
    // Many in the same millisecond, then later ones: the sequence keeps them apart.
    for (let i = 0; i < 50_000; i++) ids.push(newOrderedId(Date.UTC(2026, 11, 1) + Math.floor(i / 10_000)))
    for (const id of ids.slice(0, 100)) expect(id).toMatch(/^[a-km-np-z2-9]{12}$/)
    expect(new Set(ids).size).toBe(ids.length)
    const a = newOrderedId(Date.UTC(2026, 0, 1))
    const b = newOrderedId(Date.UTC(2026, 0, 1) + 1)
    const c = newOrderedId(Date.UTC(2040, 5, 1))
    expect(a < b && b < c).toBe(true)
    // Across milliseconds the time decides, whatever the sequence.
    expect(ids[9_999]!.slice(0, 8) < ids[10_000]!.slice(0, 8)).toBe(true)
  })

  test('a clock before 2025 still gives a valid id', () => {
    expect(newOrderedId(0)).toMatch(/^[a-km-np-z2-9]{12}$/)
  })
})
