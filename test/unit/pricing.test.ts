import { describe, expect, test } from 'bun:test'
import { billedMs, costOf, DEFAULT_PRICE } from '../../src/coordinator/pricing'
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
  test('rounds up, never down to nothing: compute that was used costs at least 1 millicredit', () => {
    // 0.0004 CPU for 7 days: 0.4 thousandths of a CPU rounds up to one, not down to zero.
    expect(costOf(0.0004, 7 * 86_400_000, DEFAULT_PRICE)).toBe(10_080)
    expect(costOf(0.0004, 1, DEFAULT_PRICE)).toBe(1)
    expect(costOf(0.01, 1, DEFAULT_PRICE)).toBe(1)
    expect(costOf(0.01, 60_000, DEFAULT_PRICE)).toBe(10)
    expect(costOf(0.0011, 60_000, DEFAULT_PRICE)).toBe(2) // 1.1 thousandths -> 2
    for (const cpus of [0.0001, 0.001, 0.01, 0.1, 0.5, 1, 3.7, 256]) {
      for (const ms of [1, 999, 1000, 1001, 59_999, 3_600_000])
        expect(costOf(cpus, ms, DEFAULT_PRICE)).toBeGreaterThan(0)
    }
  })
  test('float noise in the CPUs does not round up a whole thousandth', () => {
    // 0.29 * 1000 is 290.00000000000006 in floating point
    expect(costOf(0.29, 60_000, DEFAULT_PRICE)).toBe(290)
    expect(costOf(0.57, 60_000, DEFAULT_PRICE)).toBe(570)
    expect(costOf(1.1, 60_000, DEFAULT_PRICE)).toBe(1100)
  })
  test('no time, no CPU or a free grid cost nothing', () => {
    expect(costOf(0.5, 0, DEFAULT_PRICE)).toBe(0)
    expect(costOf(0.5, -5, DEFAULT_PRICE)).toBe(0)
    expect(costOf(0, 60_000, DEFAULT_PRICE)).toBe(0)
    expect(costOf(1, 60_000, { mcPerCpuMinute: 0 })).toBe(0)
  })
})

describe('billed time', () => {
  const job = { timeoutMs: 10_000 }
  test('the worker’s claim, but never more than the coordinator saw pass, nor the timeout', () => {
    expect(billedMs(job, 1000, 1350, 10_000)).toBe(350) // an instant answer claiming the timeout
    expect(billedMs(job, 1000, 9000, 2500)).toBe(2500) // an honest claim within what passed
    expect(billedMs(job, 1000, 60_000, 59_000)).toBe(10_000) // capped at the timeout
    expect(billedMs(job, 1000, 60_000)).toBe(10_000) // the coordinator's own ending: no claim
    expect(billedMs(job, 1000, 4000)).toBe(3000)
  })
  test('never negative: a clock that went back, or a start after the end, bills nothing', () => {
    expect(billedMs(job, 5000, 4000, 100)).toBe(0)
    expect(billedMs(job, 1000, 2000, 0)).toBe(0)
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
