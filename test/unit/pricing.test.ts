import { describe, expect, test } from 'bun:test'
import { costOf, DEFAULT_PRICE } from '../../src/coordinator/pricing'
import { formatCredits, parseCredits } from '../../src/protocol/credits'

describe('price of compute', () => {
  test('1 credit per CPU-minute by default: a 1-CPU job with the 10-minute timeout escrows 10 credits', () => {
    expect(costOf(1, 600_000, DEFAULT_PRICE)).toBe(10_000)
    expect(costOf(1, 24 * 3_600_000, DEFAULT_PRICE)).toBe(1_440_000)
  })
  test('counts per started second, rounded up to a whole millicredit', () => {
    expect(costOf(1, 1, DEFAULT_PRICE)).toBe(17) // 1 s of 1 CPU = 16.67 mc
    expect(costOf(1, 1000, DEFAULT_PRICE)).toBe(17)
    expect(costOf(1, 1001, DEFAULT_PRICE)).toBe(34)
    expect(costOf(2, 60_000, DEFAULT_PRICE)).toBe(2000)
    expect(costOf(0.5, 60_000, DEFAULT_PRICE)).toBe(500)
    expect(costOf(1, 0, DEFAULT_PRICE)).toBe(0)
  })
  test('a configured rate scales the price', () => {
    expect(costOf(1, 60_000, { mcPerCpuMinute: 2500 })).toBe(2500)
  })
})

describe('credit amounts', () => {
  test('format with their decimals', () => {
    expect(formatCredits(100_000)).toBe('100')
    expect(formatCredits(17)).toBe('0.017')
    expect(formatCredits(2500)).toBe('2.5')
    expect(formatCredits(-1500)).toBe('-1.5')
  })
  test('parse what a person types', () => {
    expect(parseCredits('100')).toBe(100_000)
    expect(parseCredits('2.5')).toBe(2500)
    expect(parseCredits('0.001')).toBe(1)
    expect(parseCredits('1.0001')).toBeUndefined()
    expect(parseCredits('-5')).toBeUndefined()
    expect(parseCredits('ten')).toBeUndefined()
  })
})
