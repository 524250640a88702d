import { describe, expect, test } from 'bun:test'
import { formatDuration, parseDuration, parseMemory } from '../../src/protocol/units'

describe('parseDuration', () => {
  test('reads seconds and suffixed durations', () => {
    expect(parseDuration('90')).toBe(90_000)
    expect(parseDuration('90s')).toBe(90_000)
    expect(parseDuration('10m')).toBe(600_000)
    expect(parseDuration('2h')).toBe(7_200_000)
    expect(parseDuration('1.5m')).toBe(90_000)
  })
  test('reads compound durations, as Go and systemd write them', () => {
    expect(parseDuration('1h30m')).toBe(5_400_000)
    expect(parseDuration('1d12h')).toBe(129_600_000)
    expect(parseDuration('2m30.5s')).toBe(150_500)
    expect(parseDuration('1s500ms')).toBe(1500)
    // A bare number is seconds only alone: '1h30' is ambiguous and refused.
    expect(() => parseDuration('1h30')).toThrow(/not a duration: use .*1h30m/)
    expect(() => parseDuration('h30m')).toThrow(/not a duration/)
  })
  test('refuses what is not a duration, saying how to write one', () => {
    expect(() => parseDuration('ten minutes', '--timeout')).toThrow(
      /--timeout 'ten minutes' is not a duration/,
    )
    expect(() => parseDuration('0')).toThrow(/greater than zero/)
    expect(() => parseDuration('-5s')).toThrow()
  })
  test('formats back for people', () => {
    expect(formatDuration(600_000)).toBe('10m00s')
    expect(formatDuration(1500)).toBe('1.5s')
  })
})

describe('parseMemory', () => {
  test('reads Docker-style sizes', () => {
    expect(parseMemory('512m')).toBe(512 * 1024 ** 2)
    expect(parseMemory('2g')).toBe(2 * 1024 ** 3)
    expect(parseMemory('1.5GiB')).toBe(1.5 * 1024 ** 3)
  })
  test('refuses nonsense and sizes Docker cannot run', () => {
    expect(() => parseMemory('lots')).toThrow(/not a size/)
    expect(() => parseMemory('1m')).toThrow(/too small/)
  })
})
