import { describe, expect, test } from 'bun:test'
import { clientKey, DEFAULT_THROTTLE, Throttle, TooManyAttempts } from '../../src/coordinator/throttle'

const START = 1_700_000_000_000

function fresh(limits = DEFAULT_THROTTLE) {
  const clock = { t: START, now: () => clock.t }
  return { clock, throttle: new Throttle(clock, limits) }
}

/** The 429 `fn` throws, or undefined when it lets the attempt through. */
function refusal(fn: () => void): TooManyAttempts | undefined {
  try {
    fn()
    return undefined
  } catch (err) {
    expect(err).toBeInstanceOf(TooManyAttempts)
    return err as TooManyAttempts
  }
}

/**
 * A guesser that tries once a second for `minutes` (simulated), failing every time, from one
 * address or from a rotating set; returns the tries let through in each minute.
 */
function guess(
  t: ReturnType<typeof fresh>,
  minutes: number,
  addresses: (i: number) => string,
  account = 'alice',
): number[] {
  const perMinute = Array<number>(minutes).fill(0)
  for (let s = 0; s < minutes * 60; s++) {
    if (!refusal(() => t.throttle.beginLogin(addresses(s), account))) perMinute[Math.floor(s / 60)]!++
    t.clock.t += 1000
  }
  return perMinute
}

describe('client addresses', () => {
  test('IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64', () => {
    expect(clientKey('192.0.2.7')).toBe('192.0.2.7')
    expect(clientKey('::ffff:192.0.2.7')).toBe('192.0.2.7')
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64')
    expect(clientKey('2001:0db8:0001:0002:ffff:1:2:3')).toBe('2001:db8:1:2::/64')
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64')
    expect(clientKey('::1')).toBe('0:0:0:0::/64')
    expect(clientKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64')
    expect(clientKey(undefined)).toBe('unknown')
  })
})

describe('password guessing from one address', () => {
  test('5 tries, then 4 a minute; each refusal is a 429 that says how long to wait', () => {
    const t = fresh()
    const minutes = guess(t, 10, () => '198.51.100.1')
    // 5 at once plus one every 15 s: 8 in the first minute, 4 in each after.
    expect(minutes[0]).toBe(8)
    for (const m of minutes.slice(1)) expect(m).toBe(4)
    let e: TooManyAttempts | undefined
    while (!(e = refusal(() => t.throttle.beginLogin('198.51.100.1', 'alice'))));
    expect(e.status).toBe(429)
    expect(e.code).toBe('too_many_attempts')
    expect(e.retryable).toBe(true)
    expect(e.retryAfterS).toBeGreaterThan(0)
    expect(e.retryAfterS).toBeLessThanOrEqual(15)
    expect(e.message).toMatch(
      /^too many failed logins from your address: wait \d+ s and try again \(after \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)$/,
    )
  })

  test('waiting as long as Retry-After says is enough for one more try', () => {
    const t = fresh()
    for (let i = 0; i < 5; i++) t.throttle.beginLogin('198.51.100.1', `user${i}`)
    const e = refusal(() => t.throttle.beginLogin('198.51.100.1', 'alice'))!
    t.clock.t += e.retryAfterS * 1000 - 1000
    expect(refusal(() => t.throttle.beginLogin('198.51.100.1', 'alice'))).toBeDefined()
    t.clock.t += 1000
    expect(refusal(() => t.throttle.beginLogin('198.51.100.1', 'alice'))).toBeUndefined()
  })

  test('a login that succeeds costs the address nothing', () => {
    const t = fresh()
    for (let i = 0; i < 50; i++) {
      t.throttle.beginLogin('198.51.100.1', 'alice')
      t.throttle.loginSucceeded('198.51.100.1', 'alice')
    }
    expect(t.throttle.sizes().addresses).toBe(0)
  })

  test("one address guessing never holds up the account's owner elsewhere", () => {
    const t = fresh()
    guess(t, 5, () => '198.51.100.1')
    // Never logged in from here before, yet let in at once.
    expect(refusal(() => t.throttle.beginLogin('203.0.113.9', 'alice'))).toBeUndefined()
  })
})

describe('password guessing from many addresses', () => {
  test('one account gets 10 tries, then 6 a minute, however many addresses guess', () => {
    const t = fresh()
    const minutes = guess(t, 5, (s) => `198.51.100.${s % 200}`)
    expect(minutes[0]).toBe(15)
    for (const m of minutes.slice(1)) expect(m).toBe(6)
    const e = refusal(() => t.throttle.beginLogin('198.51.100.250', 'alice'))!
    expect(e.message).toStartWith("too many failed logins for 'alice' from other addresses: wait ")
    expect(e.retryAfterS).toBeLessThanOrEqual(10)
  })

  test('the owner at an address they logged in from is not held up at all; elsewhere for 10 s at most', () => {
    const t = fresh()
    t.throttle.beginLogin('203.0.113.9', 'alice')
    t.throttle.loginSucceeded('203.0.113.9', 'alice')
    // A botnet keeps the account's budget empty for 10 minutes.
    guess(t, 10, (s) => `198.51.${Math.floor(s / 200)}.${s % 200}`)
    expect(refusal(() => t.throttle.beginLogin('203.0.113.9', 'alice'))).toBeUndefined()
    const e = refusal(() => t.throttle.beginLogin('192.0.2.77', 'alice'))!
    expect(e.retryAfterS).toBeLessThanOrEqual(10)
  })

  test('a success fills the account budget again', () => {
    const t = fresh()
    for (let i = 0; i < 10; i++) t.throttle.beginLogin(`198.51.100.${i}`, 'alice')
    expect(refusal(() => t.throttle.beginLogin('198.51.100.99', 'alice'))).toBeDefined()
    t.clock.t += 10_000
    t.throttle.beginLogin('203.0.113.9', 'alice')
    t.throttle.loginSucceeded('203.0.113.9', 'alice')
    for (let i = 0; i < 10; i++) t.throttle.beginLogin(`198.51.101.${i}`, 'alice')
    expect(refusal(() => t.throttle.beginLogin('198.51.101.99', 'alice'))).toBeDefined()
  })

  test('an account refusal gives the address its token back', () => {
    const t = fresh()
    for (let i = 0; i < 10; i++) t.throttle.beginLogin(`198.51.100.${i}`, 'alice')
    for (let i = 0; i < 20; i++) refusal(() => t.throttle.beginLogin('203.0.113.1', 'alice'))
    // Refused for alice 20 times, yet 5 tries left for other accounts.
    for (let i = 0; i < 5; i++) t.throttle.beginLogin('203.0.113.1', `user${i}`)
    expect(refusal(() => t.throttle.beginLogin('203.0.113.1', 'bob'))).toBeDefined()
  })
})

describe('sign-ups', () => {
  test('10 from one address, then one a minute', () => {
    const t = fresh()
    for (let i = 0; i < 10; i++) t.throttle.beginSignup('198.51.100.1')
    const e = refusal(() => t.throttle.beginSignup('198.51.100.1'))!
    expect(e.message).toStartWith('too many sign-ups from your address: wait 60 s')
    expect(refusal(() => t.throttle.beginSignup('198.51.100.2'))).toBeUndefined()
    t.clock.t += 60_000
    t.throttle.beginSignup('198.51.100.1')
  })
})

describe('memory', () => {
  test('a flood of addresses and names cannot grow the maps past their bound', () => {
    const t = fresh({ ...DEFAULT_THROTTLE, maxEntries: 1000 })
    for (let i = 0; i < 20_000; i++) {
      const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
      refusal(() => t.throttle.beginLogin(address, `name${i}`))
      t.throttle.loginSucceeded(address, `other${i}`)
      refusal(() => t.throttle.beginSignup(address))
    }
    const sizes = t.throttle.sizes()
    for (const n of Object.values(sizes)) expect(n).toBeLessThanOrEqual(1000)
    expect(sizes.known).toBe(1000)
  })

  test('buckets that have filled up again are forgotten', () => {
    const t = fresh()
    t.throttle.beginLogin('198.51.100.1', 'alice')
    t.clock.t += 60_000
    t.throttle.beginLogin('198.51.100.2', 'bob')
    t.throttle.loginSucceeded('198.51.100.2', 'bob')
    expect(t.throttle.sizes().addresses).toBe(1)
  })
})
