import { describe, expect, test } from 'bun:test'
import * as dns from 'dns-packet'
import fc from 'fast-check'
import {
  advertRecords,
  encodeBrowseQuery,
  encodeResponse,
  type LanAdvert,
  parseAdverts,
  questionsForUs,
  SERVICE_TYPE,
} from '../../src/protocol/lan'
import { advertisedAddresses, multicastInterfaces, onLink } from '../../src/protocol/lan-net'
import { normalizeFingerprint } from '../../src/protocol/fingerprint'

const FP = Array.from({ length: 32 }, (_, i) => (i * 7).toString(16).padStart(2, '0').toUpperCase()).join(':')
const advert: LanAdvert = {
  instance: 'lab-pc',
  host: 'lab-pc.local',
  port: 8081,
  addresses: ['192.168.1.100', 'fd00::5'],
  version: '0.1.0',
  tls: true,
  fingerprint: FP,
  publicUrl: 'https://grid.lan:8081',
}

/** A response packet made of the given records. */
const packet = (answers: dns.Answer[]) => dns.encode({ type: 'response', id: 0, flags: 0, answers })
const base = (ttl = 120) => advertRecords(advert, ttl)

describe('advertisement records', () => {
  test('what serve advertises is what a browser reads back', () => {
    expect(parseAdverts(encodeResponse(advert, 120))).toEqual([
      {
        name: 'lab-pc',
        host: 'lab-pc.local',
        port: 8081,
        addresses: ['192.168.1.100', 'fd00::5'],
        tls: true,
        fingerprint: FP,
        publicUrl: 'https://grid.lan:8081',
        version: '0.1.0',
        ttl: 120,
      },
    ])
  })

  test('the TXT record says tls=0 and carries no fingerprint for plain HTTP', () => {
    const plain = { ...advert, tls: false, publicUrl: undefined }
    const txt = advertRecords(plain, 120).find((r) => r.type === 'TXT')!
    expect(txt.data).toEqual(['v=1', 'version=0.1.0', 'tls=0'])
    expect(parseAdverts(encodeResponse(plain, 120))[0]).toMatchObject({ tls: false, fingerprint: undefined })
  })

  test('a goodbye has TTL 0; an answer to a one-shot query echoes its id and question with TTL at most 10 s', () => {
    expect(parseAdverts(encodeResponse(advert, 0))[0]!.ttl).toBe(0)
    const q = questionsForUs(encodeBrowseQuery(4242), advert)!
    expect(q.id).toBe(4242)
    const reply = dns.decode(encodeResponse(advert, 120, q))
    expect(reply.id).toBe(4242)
    expect(reply.questions).toEqual([{ type: 'PTR', name: SERVICE_TYPE, class: 'IN' }])
    expect(reply.answers!.every((a) => 'ttl' in a && a.ttl === 10)).toBe(true)
  })

  test('a dot or control character in the host name cannot split or steer the instance name', () => {
    const odd = { ...advert, instance: 'evil.\u001b[2Jname' }
    expect(parseAdverts(encodeResponse(odd, 120))[0]!.name).toBe('evil--[2Jname')
  })

  test('only queries for _gridx._tcp, this instance or this host are answered', () => {
    expect(questionsForUs(encodeBrowseQuery(1), advert)).toBeDefined()
    const ask = (name: string, type: dns.RecordType) =>
      questionsForUs(dns.encode({ type: 'query', questions: [{ name, type }] }), advert)
    expect(ask('_http._tcp.local', 'PTR')).toBeUndefined()
    expect(ask(`lab-pc.${SERVICE_TYPE}`, 'SRV')).toBeDefined()
    expect(ask('LAB-PC.local', 'A')).toBeDefined()
    expect(ask('lab-pc.local', 'MX')).toBeUndefined()
    // A response is never taken for a question.
    expect(questionsForUs(encodeResponse(advert, 120), advert)).toBeUndefined()
  })

  test('fingerprints in any spelling become AB:CD:…; anything else is none', () => {
    expect(normalizeFingerprint(FP.replace(/:/g, '').toLowerCase())).toBe(FP)
    expect(normalizeFingerprint('AB:CD')).toBeUndefined()
    expect(normalizeFingerprint(`${FP}:00`)).toBeUndefined()
  })
})

describe('hostile packets are bounded and never throw', () => {
  const full = encodeResponse(advert, 120)

  test('every truncation of a valid packet parses to nothing or to the true coordinator', () => {
    for (let n = 0; n < full.length; n++) {
      const got = parseAdverts(full.subarray(0, n))
      for (const c of got) expect(c).toMatchObject({ name: 'lab-pc', port: 8081 })
    }
  })

  test('random bytes, and random damage to a valid packet, never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        expect(Array.isArray(parseAdverts(Buffer.from(bytes)))).toBe(true)
        expect(() => questionsForUs(Buffer.from(bytes), advert)).not.toThrow()
      }),
      { numRuns: 2000 },
    )
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: full.length - 1 }),
        fc.integer({ min: 0, max: 255 }),
        (at, byte) => {
          const damaged = Buffer.from(full)
          damaged[at] = byte
          for (const c of parseAdverts(damaged)) {
            expect(c.port).toBeGreaterThan(0)
            expect(c.addresses.length).toBeLessThanOrEqual(8)
          }
        },
      ),
      { numRuns: 2000 },
    )
  })

  test('a packet over 9000 bytes is dropped unread', () => {
    const big = packet([...base(), { type: 'TXT', name: 'pad.local', data: Array(40).fill('x'.repeat(250)) }])
    expect(big.length).toBeGreaterThan(9000)
    expect(parseAdverts(big)).toEqual([])
  })

  test('a compression pointer loop is rejected, not followed', () => {
    // Header (one question), then a name that is a pointer to itself at offset 12.
    const loop = Buffer.from([0, 0, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 12, 0, 1])
    expect(parseAdverts(loop)).toEqual([])
    expect(questionsForUs(loop, advert)).toBeUndefined()
  })

  test('records missing, of another version, or with a bad port, URL or fingerprint are not believed', () => {
    const without = (type: string) => packet(base().filter((r) => r.type !== type))
    expect(parseAdverts(without('SRV'))).toEqual([])
    expect(parseAdverts(without('TXT'))).toEqual([])
    expect(parseAdverts(without('PTR'))).toEqual([])
    const withTxt = (data: string[]) => packet(base().map((r) => (r.type === 'TXT' ? { ...r, data } : r)))
    expect(parseAdverts(withTxt(['v=2', 'tls=0']))).toEqual([])
    const odd = parseAdverts(
      withTxt(['v=1', 'tls=1', 'fp=not-a-fingerprint', 'url=javascript:alert(1)', 'version=\u001b[31m']),
    )
    expect(odd[0]).toMatchObject({
      tls: true,
      fingerprint: undefined,
      publicUrl: undefined,
      version: undefined,
    })
    // The first occurrence of a key counts (RFC 6763 section 6.4).
    expect(parseAdverts(withTxt(['v=1', 'tls=0', 'tls=1']))[0]!.tls).toBe(false)
    const port0 = packet(base().map((r) => (r.type === 'SRV' ? { ...r, data: { ...r.data, port: 0 } } : r)))
    expect(parseAdverts(port0)).toEqual([])
    // An A record of another host name in the same packet is not this coordinator's address.
    const stray = packet([...base(), { type: 'A', name: 'other.local', ttl: 120, data: '10.9.9.9' }])
    expect(parseAdverts(stray)[0]!.addresses).not.toContain('10.9.9.9')
  })

  test('one packet yields at most 16 coordinators with at most 8 addresses each', () => {
    const many: dns.Answer[] = []
    for (let i = 0; i < 20; i++) {
      const a = { ...advert, instance: `c${i}`, addresses: [] }
      many.push(
        ...advertRecords(a, 120).filter((r) => r.type === 'PTR' || r.type === 'SRV' || r.type === 'TXT'),
      )
    }
    expect(parseAdverts(packet(many.slice(0, 60))).length).toBeLessThanOrEqual(16)
    const addrs = Array.from({ length: 30 }, (_, i) => `10.0.0.${i + 1}`)
    const wide = parseAdverts(encodeResponse({ ...advert, addresses: addrs }, 120))
    expect(wide[0]!.addresses.length).toBe(8)
  })
})

describe('interfaces', () => {
  const ifs = {
    lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', internal: true, mac: '', cidr: null }],
    eth0: [
      {
        address: '192.168.1.100',
        netmask: '255.255.255.0',
        family: 'IPv4',
        internal: false,
        mac: '',
        cidr: null,
      },
      {
        address: 'fe80::1',
        netmask: 'ffff:ffff:ffff:ffff::',
        family: 'IPv6',
        internal: false,
        mac: '',
        cidr: null,
        scopeid: 2,
      },
      {
        address: 'fd00::5',
        netmask: 'ffff:ffff:ffff:ffff::',
        family: 'IPv6',
        internal: false,
        mac: '',
        cidr: null,
        scopeid: 0,
      },
    ],
  } as const
  test('mDNS uses non-loopback IPv4; addresses advertised leave out loopback and link-local IPv6', () => {
    const list = JSON.parse(JSON.stringify(ifs)) as Parameters<typeof multicastInterfaces>[0]
    expect(multicastInterfaces(list)).toEqual([
      { name: 'eth0', address: '192.168.1.100', netmask: '255.255.255.0' },
    ])
    expect(advertisedAddresses(list)).toEqual(['192.168.1.100', 'fd00::5'])
  })
  test('unicast answers go only to senders on our link', () => {
    const lan = [{ name: 'eth0', address: '192.168.1.100', netmask: '255.255.255.0' }]
    expect(onLink('192.168.1.7', lan)).toBe(true)
    expect(onLink('192.168.2.7', lan)).toBe(false)
    expect(onLink('8.8.8.8', lan)).toBe(false)
    expect(onLink('not an address', lan)).toBe(false)
  })
})
