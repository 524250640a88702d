import { plainHttpWarning } from '../../src/cli/join'
import { describe, expect, test } from 'bun:test'
import { createHash } from 'node:crypto'
import { decodeJoinToken, encodeJoinToken } from '../../src/client/join-token'
import { normalizeFingerprint, tlsOptions } from '../../src/client/trust'
import { GridError } from '../../src/errors'

const FP = 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89'
const TOKEN = {
  urls: ['https://10.20.0.1:8081', 'https://[fd00::1]:8081'],
  fingerprint: FP,
  invite: 'gxi_BqWZRIqnbDY1-rZNharAEvurH8lmlIDn',
}

function refusal(text: string): GridError {
  try {
    decodeJoinToken(text)
  } catch (err) {
    if (err instanceof GridError) return err
    throw err
  }
  throw new Error('the token was accepted')
}

describe('join tokens', () => {
  test('round trip: addresses, fingerprint and invite come back as given, in one pasteable word', () => {
    const token = encodeJoinToken(TOKEN)
    expect(token).toMatch(/^gx1_[A-Za-z0-9_-]+$/)
    expect(decodeJoinToken(token)).toEqual(TOKEN)
    // Surrounding blanks from a copy are forgiven; a token without TLS or invite has neither.
    expect(decodeJoinToken(`  ${token}\n`)).toEqual(TOKEN)
    expect(decodeJoinToken(encodeJoinToken({ urls: ['http://192.168.1.100:8081'] }))).toEqual({
      urls: ['http://192.168.1.100:8081'],
    })
  })

  test('a fingerprint in lower case or without colons is stored in its one printed form', () => {
    const bare = FP.replace(/:/g, '').toLowerCase()
    expect(decodeJoinToken(encodeJoinToken({ ...TOKEN, fingerprint: bare })).fingerprint).toBe(FP)
    expect(() => encodeJoinToken({ ...TOKEN, fingerprint: 'AB:CD' })).toThrow('not a SHA-256 fingerprint')
  })

  test('a token cut short, with a character changed or added, is damaged: copy the whole line again', () => {
    const token = encodeJoinToken(TOKEN)
    const changed = token.slice(0, 30) + (token[30] === 'A' ? 'B' : 'A') + token.slice(31)
    for (const bad of [token.slice(0, -3), token.slice(0, 40), changed, `${token}x`, 'gx1_', 'gx1_abc']) {
      const err = refusal(bad)
      expect(err.code).toBe('join_token_damaged')
      expect(err.message).toMatch(/^this join token is damaged \(.+\): copy the whole line again/)
    }
    expect(refusal(`${token.slice(0, 20)}!${token.slice(21)}`).message).toContain(
      'characters a join token never has',
    )
  })

  test('another format version is named, and an invite code or anything else is not taken for a token', () => {
    const later = `gx2_${encodeJoinToken(TOKEN).slice(4)}`
    const v = refusal(later)
    expect(v.code).toBe('join_token_version')
    expect(v.message).toContain('format 2, which this gridx (format 1) cannot read')
    expect(refusal(TOKEN.invite).message).toContain(
      "it is an invite code: use 'gridx register --invite CODE'",
    )
    expect(refusal('https://10.20.0.1:8081').message).toContain("join tokens start with 'gx1_'")
  })

  test('a huge paste is refused by its length before it is decoded', () => {
    const json = Buffer.from(JSON.stringify({ u: ['https://x:1'], i: 'y'.repeat(20_000) }))
    const sum = createHash('sha256').update(json).digest().subarray(0, 4)
    const err = refusal(`gx1_${Buffer.concat([json, sum]).toString('base64url')}`)
    expect(err.code).toBe('join_token_damaged')
    expect(err.message).toContain('it is longer than 8192 characters')
    expect(refusal(`gx1_${'A'.repeat(5_000_000)}`).message).toContain('longer than 8192')
  })

  test('well-formed JSON of the wrong shape is damaged too (a hand-made token)', () => {
    const json = Buffer.from(JSON.stringify({ u: ['ftp://x'] }))
    const sum = createHash('sha256').update(json).digest().subarray(0, 4)
    const err = refusal(`gx1_${Buffer.concat([json, sum]).toString('base64url')}`)
    expect(err.message).toContain('its content is not a coordinator address and key')
  })
})

describe('plain-http tokens', () => {
  test('a token naming a plain-http coordinator on another machine is warned about; https and loopback are not', () => {
    expect(plainHttpWarning('http://10.20.0.1:8081')).toContain(
      'serves plain http: no certificate is pinned, and passwords, tokens and jobs cross the network unencrypted',
    )
    expect(plainHttpWarning('https://10.20.0.1:8081')).toBeUndefined()
    expect(plainHttpWarning('http://127.0.0.1:8081')).toBeUndefined()
  })
})

describe('trust', () => {
  test('fingerprints: any spelling of 64 hex digits, else undefined', () => {
    expect(normalizeFingerprint(FP.toLowerCase())).toBe(FP)
    expect(normalizeFingerprint(FP.replace(/:/g, ' '))).toBe(FP)
    expect(normalizeFingerprint('not hex')).toBeUndefined()
    expect(normalizeFingerprint(FP.slice(3))).toBeUndefined()
  })

  test('a pin accepts exactly its certificate and never turns verification off', () => {
    const opts = tlsOptions({ pin: { fingerprint: FP, anchor: 'PEM' } })!
    expect(opts.ca).toBe('PEM')
    expect(opts).not.toHaveProperty('rejectUnauthorized')
    expect(opts.checkServerIdentity!('10.0.0.1', { fingerprint256: FP })).toBeUndefined()
    const other = FP.replace('AB', '00')
    expect(opts.checkServerIdentity!('10.0.0.1', { fingerprint256: other })?.message).toBe(
      `certificate fingerprint ${other} is not the pinned ${FP}`,
    )
    // A CA file alone keeps the ordinary host name check.
    expect(tlsOptions({ ca: { path: 'ca.pem', pem: 'CA' } })).toEqual({ ca: 'CA' })
    expect(tlsOptions(undefined)).toBeUndefined()
  })
})
