import { describe, expect, test } from 'bun:test'
import {
  HEADROOM,
  type HeartbeatBudget,
  intervalFor,
  jittered,
  JITTER,
  leaseFor,
  nextInterval,
  silenceFor,
} from '../../src/coordinator/heartbeat-budget'
import { DEFAULT_SETTINGS } from '../../src/coordinator/settings'

const budget: HeartbeatBudget = { perSecond: 500, floorMs: 5_000, ceilingMs: 60_000 }

/** Heartbeats per second of `workers` workers beating every `ms`. */
const rate = (workers: number, ms: number) => (workers * 1000) / ms

describe('intervalFor', () => {
  test('small grids beat at the floor, as they always did', () => {
    expect(intervalFor(0, budget)).toBe(5_000)
    expect(intervalFor(1, budget)).toBe(5_000)
    expect(intervalFor(2_500, budget)).toBe(5_000)
  })

  test('past the budget the interval grows with the grid: workers / perSecond seconds', () => {
    expect(intervalFor(2_501, budget)).toBe(5_002)
    expect(intervalFor(10_000, budget)).toBe(20_000)
    expect(intervalFor(20_000, budget)).toBe(40_000)
    for (const n of [3_000, 7_777, 10_000, 29_999])
      expect(rate(n, intervalFor(n, budget))).toBeLessThanOrEqual(500)
  })

  test('never past the ceiling, however large the grid', () => {
    expect(intervalFor(30_000, budget)).toBe(60_000)
    expect(intervalFor(1_000_000, budget)).toBe(60_000)
  })

  test('another budget moves the knee', () => {
    expect(intervalFor(10_000, { ...budget, perSecond: 100 })).toBe(60_000)
    expect(intervalFor(1_000, { ...budget, perSecond: 100 })).toBe(10_000)
  })
})

describe('nextInterval', () => {
  test('nothing to tell while the grid stays within the budget', () => {
    expect(nextInterval(5_000, 1, budget)).toBeUndefined()
    expect(nextInterval(5_000, 2_500, budget)).toBeUndefined()
  })

  test('a grid that outgrows its interval is told a longer one, sized a quarter ahead', () => {
    expect(nextInterval(5_000, 2_501, budget)).toBe(intervalFor(Math.ceil(2_501 * HEADROOM), budget))
    const told = nextInterval(5_000, 2_501, budget)!
    const sizedFor = Math.ceil(2_501 * HEADROOM)
    // Nothing more to tell until the grid has grown by that quarter...
    expect(nextInterval(told, sizedFor, budget)).toBeUndefined()
    // ...and the budget holds all the way there.
    expect(rate(sizedFor, told)).toBeLessThanOrEqual(500)
    expect(nextInterval(told, sizedFor + 1, budget)!).toBeGreaterThan(told)
  })

  test('growing one worker at a time to 20,000 takes a handful of messages to every worker, not one per connection', () => {
    let ms = budget.floorMs
    let changes = 0
    for (let n = 1; n <= 20_000; n++) {
      const next = nextInterval(ms, n, budget)
      if (next !== undefined) {
        ms = next
        changes++
      }
      expect(rate(n, ms)).toBeLessThanOrEqual(500)
    }
    expect(changes).toBeLessThanOrEqual(10)
    expect(ms).toBeGreaterThanOrEqual(40_000)
  })

  test('a grid that shrinks well below its size is told to beat faster again; a little less is not', () => {
    expect(nextInterval(40_000, 19_000, budget)).toBeUndefined()
    expect(nextInterval(40_000, 12_000, budget)).toBeUndefined()
    expect(nextInterval(40_000, 8_000, budget)).toBe(intervalFor(10_000, budget))
    // Back to a small grid: the floor, whatever the ratio.
    expect(nextInterval(6_000, 10, budget)).toBe(5_000)
    expect(nextInterval(5_000, 10, budget)).toBeUndefined()
  })

  test('no flapping: shrinking and growing by one around a threshold tells nothing', () => {
    const ms = nextInterval(5_000, 2_501, budget)!
    for (let i = 0; i < 50; i++) {
      expect(nextInterval(ms, 2_500, budget)).toBeUndefined()
      expect(nextInterval(ms, 2_501, budget)).toBeUndefined()
    }
  })
})

describe('jittered', () => {
  test('at the floor every worker gets the floor exactly', () => {
    expect(jittered(5_000, budget, () => 0.99)).toBe(5_000)
  })

  test('above it, up to 10% longer (so the budget still holds), never past the ceiling', () => {
    expect(jittered(20_000, budget, () => 0)).toBe(20_000)
    expect(jittered(20_000, budget, () => 0.5)).toBe(21_000)
    expect(jittered(20_000, budget, () => 1)).toBe(20_000 * (1 + JITTER))
    expect(jittered(58_000, budget, () => 1)).toBe(60_000)
    const spread = new Set(Array.from({ length: 100 }, () => jittered(20_000, budget)))
    expect(spread.size).toBeGreaterThan(50)
  })
})

describe('timeouts follow the interval', () => {
  test('at the floor they are the settings: 20 s of silence, 30 s leases', () => {
    expect(silenceFor(5_000, DEFAULT_SETTINGS)).toBe(20_000)
    expect(leaseFor(5_000, DEFAULT_SETTINGS)).toBe(30_000)
  })

  test('a worker told to beat every 40 s may be silent 160 s and its leases last 240 s', () => {
    expect(silenceFor(40_000, DEFAULT_SETTINGS)).toBe(160_000)
    expect(leaseFor(40_000, DEFAULT_SETTINGS)).toBe(240_000)
  })
})
