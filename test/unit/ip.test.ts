import { describe, expect, test } from 'bun:test'
import { isIP as nodeIsIP } from 'node:net'
import { isIP } from '../../src/client/ip'

const SAMPLES = [
  '127.0.0.1',
  '0.0.0.0',
  '255.255.255.255',
  '256.1.1.1',
  '1.2.3',
  '1.2.3.4.5',
  '01.2.3.4',
  '1.2.3.04',
  ' 1.2.3.4',
  '1.2.3.4 ',
  '1.2.3.4\n',
  '',
  '::',
  '::1',
  '1::',
  'fe80::1%eth0',
  'fe80::1%',
  '::ffff:1.2.3.4',
  '2001:db8::8a2e:370:7334',
  '2001:0db8:0000:0000:0000:ff00:0042:8329',
  '1:2:3:4:5:6:7:8',
  '1:2:3:4:5:6:7:8:9',
  '1:2:3:4:5:6:7::',
  '1::2::3',
  ':::',
  '[::1]',
  'localhost',
  'example.com',
  '12345::',
  'g::1',
  '::1.2.3.4',
  '1:2:3:4:5:6:1.2.3.4',
  '1:2:3:4:5:6:7:1.2.3.4',
  'ABCD:EF01::',
  '::%1',
  '1.2.3.4%eth0',
  '0x7f.0.0.1',
]

describe('isIP', () => {
  test("answers as node:net's isIP on literals, names and near-misses", () => {
    for (const s of SAMPLES) expect([s, isIP(s) as number]).toEqual([s, nodeIsIP(s)])
  })

  test('agrees with node:net on random strings of address characters', () => {
    const chars = '0123456789abcdefABCDEF:.%x'
    for (let i = 0; i < 20_000; i++) {
      let s = ''
      const n = 1 + Math.floor(Math.random() * 24)
      for (let k = 0; k < n; k++) s += chars[Math.floor(Math.random() * chars.length)]
      if (isIP(s) !== nodeIsIP(s)) expect([s, isIP(s) as number]).toEqual([s, nodeIsIP(s)])
    }
  })
})
