import { describe, expect, test } from 'bun:test'
import { escapeTerminal, lineProblem, singleLine } from '../../src/protocol/text'

describe('single-line text', () => {
  test.each([
    ['gpu-box 1', undefined],
    ['Müller’s Rechner ✓', undefined],
    ['', 'worker names may not be empty'],
    ['x'.repeat(65), 'worker names are at most 64 characters'],
    ['evil\x1b]0;pwned\x07', 'worker names may not contain control characters'],
    ['two\nlines', 'worker names may not contain control characters'],
    ['nul\0', 'worker names may not contain control characters'],
    ['del\x7f', 'worker names may not contain control characters'],
    ['csi\u009b2J', 'worker names may not contain control characters'],
    ['line\u2028sep', 'worker names may not contain line separators'],
    ['gpu\u202eexe.sh', 'worker names may not contain Unicode direction controls'],
    ['iso\u2066late', 'worker names may not contain Unicode direction controls'],
  ])('%j: %s', (text, why) => {
    expect(lineProblem(text, 'worker names', 64)).toBe(why)
    const r = singleLine('worker names', 64).safeParse(text)
    expect(r.success).toBe(why === undefined)
    if (!r.success) expect(r.error.issues[0]?.message).toBe(why)
  })
})

describe('escapeTerminal', () => {
  test('control characters are shown, not acted on', () => {
    expect(escapeTerminal('a\x1b[2Jb')).toBe('a\\x1b[2Jb')
    expect(escapeTerminal('t\te\rn\n')).toBe('t\\x09e\\x0dn\\x0a')
    expect(escapeTerminal('del\x7f csi\u009b rlo\u202e sep\u2029')).toBe(
      'del\\u007f csi\\u009b rlo\\u202e sep\\u2029',
    )
    expect(escapeTerminal('plain ✓ ünïcode')).toBe('plain ✓ ünïcode')
  })

  test('keepNewlines keeps multi-line text readable; everything else is still escaped', () => {
    expect(escapeTerminal('one\ntwo\x1b', { keepNewlines: true })).toBe('one\ntwo\\x1b')
  })

  test('JSON stays JSON with the same meaning', () => {
    const value = { name: 'a\x1b\u009b\u202e\x7f\n', list: ['\u2028'] }
    const text = escapeTerminal(JSON.stringify(value, null, 2), { keepNewlines: true })
    expect(text).not.toMatch(/[\u007f-\u009f\u202e\u2028]/)
    expect(JSON.parse(text)).toEqual(value)
  })
})
