import { describe, expect, test } from 'bun:test'
import { backoffDelay } from '../../src/worker/agent'

const base = { baseMs: 500, maxMs: 30_000 }
const fixed = (r: number) => ({ ...base, random: () => r })
// Math.random is in [0, 1); this is the largest double below 1.
const ALMOST_ONE = 1 - Number.EPSILON / 2

describe('backoffDelay', () => {
  test('with random = 0 the delay is always 0 (full jitter has no floor)', () => {
    for (let n = 0; n < 40; n++) expect(backoffDelay(n, fixed(0))).toBe(0)
  })

  test('the ceiling doubles from base each attempt', () => {
    expect(backoffDelay(0, fixed(ALMOST_ONE))).toBe(500)
    expect(backoffDelay(1, fixed(ALMOST_ONE))).toBe(1000)
    expect(backoffDelay(2, fixed(ALMOST_ONE))).toBe(2000)
    expect(backoffDelay(5, fixed(ALMOST_ONE))).toBe(16_000)
  })

  test('the ceiling is capped at maxMs', () => {
    expect(backoffDelay(6, fixed(ALMOST_ONE))).toBe(30_000)
    expect(backoffDelay(7, fixed(ALMOST_ONE))).toBe(30_000)
    expect(backoffDelay(1000, fixed(ALMOST_ONE))).toBe(30_000)
    // Huge attempt numbers must not overflow into Infinity or NaN.
    expect(backoffDelay(Number.MAX_SAFE_INTEGER, fixed(0.5))).toBe(15_000)
  })

  test('the delay scales linearly with the random value inside [0, ceiling]', () => {
    expect(backoffDelay(2, fixed(0.25))).toBe(500)
    expect(backoffDelay(2, fixed(0.5))).toBe(1000)
    expect(backoffDelay(10, fixed(0.1))).toBe(3000)
  })

  test('every draw stays within [0, min(max, base * 2^n)] and is a whole number of ms', () => {
    let seed = 42
    // A small deterministic LCG so the test is reproducible.
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
      return seed / 2 ** 31
    }
    for (let n = 0; n < 20; n++) {
      const ceiling = Math.min(30_000, 500 * 2 ** n)
      for (let i = 0; i < 200; i++) {
        const d = backoffDelay(n, { ...base, random })
        expect(Number.isInteger(d)).toBe(true)
        expect(d).toBeGreaterThanOrEqual(0)
        expect(d).toBeLessThanOrEqual(ceiling)
      }
    }
  })

  test('for a fixed random value the delay never decreases as attempts grow', () => {
    for (const r of [0.01, 0.3, 0.77, ALMOST_ONE]) {
      let previous = -1
      for (let n = 0; n < 50; n++) {
        const d = backoffDelay(n, fixed(r))
        expect(d).toBeGreaterThanOrEqual(previous)
        previous = d
      }
      expect(previous).toBe(Math.round(r * 30_000))
    }
  })

  test('the injected random is called exactly once per delay', () => {
    let calls = 0
    backoffDelay(3, {
      ...base,
      random: () => {
        calls++
        return 0.5
      },
    })
    expect(calls).toBe(1)
  })

  test('without an injected random it uses Math.random and stays in bounds', () => {
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(1, base)
      expect(d).toBeGreaterThanOrEqual(0)
      expect(d).toBeLessThanOrEqual(1000)
    }
  })

  test('a max below the base caps even the first attempt', () => {
    expect(backoffDelay(0, { baseMs: 1000, maxMs: 200, random: () => ALMOST_ONE })).toBe(200)
  })
})
