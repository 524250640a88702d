import { describe, expect, test } from 'bun:test'
import { z } from 'zod'
import { parseFile } from '../../src/client/credentials'

// The credentials file is read by hand (src/client/credentials.ts); this is the zod schema it
// replaced, the reference: the same files are read, to the same result, and the same are refused.
const Saved = z.object({
  user: z.string(),
  token: z.string(),
  expiresAt: z.string(),
  coordinator: z.string(),
  ca: z.object({ path: z.string(), pem: z.string() }).optional(),
  pin: z
    .object({ fingerprint: z.string(), anchor: z.string().optional(), unchecked: z.boolean().optional() })
    .optional(),
  password: z.string().optional(),
})
const File = z.object({
  current: z.string().optional(),
  logins: z.record(z.string(), Saved).default({}),
  answered: z.string().optional(),
})

const LOGIN = {
  user: 'ann',
  token: 't',
  expiresAt: '2026-01-01T00:00:00Z',
  coordinator: 'a,b',
  ca: { path: '/ca.pem', pem: 'PEM' },
  pin: { fingerprint: 'ab', anchor: 'cd', unchecked: true },
  password: 'pw',
  later: 'dropped',
}
const FILE = { current: 'http://a:8081', logins: { 'http://a:8081': LOGIN }, answered: 'http://a:8081', x: 1 }
const WRONG: unknown[] = [undefined, null, 0, '', 's', true, [], {}, { path: 'p', pem: 'q' }]

function variants(): unknown[] {
  const out: unknown[] = [FILE, {}, { logins: {} }, null, [], 'x']
  for (const k of Object.keys(FILE)) for (const w of WRONG) out.push({ ...FILE, [k]: w })
  for (const k of Object.keys(LOGIN))
    for (const w of WRONG) out.push({ ...FILE, logins: { u: { ...LOGIN, [k]: w } } })
  for (const k of ['fingerprint', 'anchor', 'unchecked'])
    for (const w of WRONG) out.push({ ...FILE, logins: { u: { ...LOGIN, pin: { ...LOGIN.pin, [k]: w } } } })
  for (const k of ['path', 'pem'])
    for (const w of WRONG) out.push({ ...FILE, logins: { u: { ...LOGIN, ca: { ...LOGIN.ca, [k]: w } } } })
  return out
}

describe('the credentials file, read by hand', () => {
  test('reads what the zod schema read, to the same result, and refuses what it refused', () => {
    let refused = 0
    for (const v of variants()) {
      const theirs = File.safeParse(v)
      let mine: unknown
      try {
        mine = parseFile(v)
      } catch {
        mine = undefined
      }
      if (!theirs.success) refused++
      expect({ v, mine }).toEqual({ v, mine: theirs.success ? theirs.data : undefined })
    }
    expect(refused).toBeGreaterThan(20)
  })
})
