import { describe, expect, test } from 'bun:test'
import type { NetworkInterfaceInfo } from 'node:os'
import type { FoundCoordinator } from '../../src/client/discovery'
import { lanChecks } from '../../src/client/doctor/lan'
import { startAdvertising } from '../../src/coordinator/advertise'

const advert = { instance: 'lab-pc', port: 8081, version: '0.1.0', tls: false }

describe('advertising when multicast cannot work', () => {
  test('no interface but loopback: one clear line, no socket, and stop is harmless', async () => {
    const lines: string[] = []
    const lo = {
      lo: [
        { address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', internal: true, mac: '', cidr: null },
      ],
    } as unknown as NodeJS.Dict<NetworkInterfaceInfo[]>
    const a = await startAdvertising({
      advert,
      bind: '0.0.0.0',
      log: (l) => lines.push(l),
      interfaces: () => lo,
    })
    expect(a.advert).toBeUndefined()
    expect(lines).toEqual([
      'LAN discovery: not advertising (no network interface with an IPv4 address to multicast on); clients need --coordinator',
    ])
    await a.stop()
  })

  test('bound to loopback: nothing is advertised', async () => {
    const lines: string[] = []
    const a = await startAdvertising({
      advert,
      bind: '127.0.0.1',
      log: (l) => lines.push(l),
      interfaces: () => ({}),
    })
    expect(a.advert).toBeUndefined()
    expect(lines[0]).toContain('it is bound to loopback only')
  })
})

describe("doctor's lan discovery line", () => {
  const found: FoundCoordinator = {
    name: 'lab-pc',
    host: 'lab-pc.local',
    port: 8081,
    addresses: ['192.168.1.100'],
    tls: true,
    fingerprint: 'AB:CD',
    publicUrl: undefined,
    version: '0.1.0',
    ttl: 120,
    url: 'https://192.168.1.100:8081',
  }
  test('each coordinator: name, addresses, port, TLS and fingerprint', () => {
    expect(lanChecks({ found: [found], problem: undefined }, { needed: true, serve: false })).toEqual([
      {
        check: 'lan discovery',
        status: 'ok',
        detail:
          'coordinator lab-pc at https://192.168.1.100:8081: addresses 192.168.1.100; port 8081; TLS, certificate SHA-256 AB:CD; version 0.1.0',
        fix: null,
      },
    ])
  })
  test('none where one is needed: a warning naming multicast and UDP 5353; none needed: ok', () => {
    const [none] = lanChecks({ found: [], problem: undefined }, { needed: true, serve: false })
    expect(none).toMatchObject({ status: 'warn', fix: expect.stringContaining('UDP port 5353') })
    expect(lanChecks({ found: [], problem: undefined }, { needed: false, serve: false })[0]!.status).toBe(
      'ok',
    )
    const [cannot] = lanChecks({ found: [], problem: 'no route' }, { needed: false, serve: false })
    expect(cannot).toMatchObject({ status: 'warn', detail: 'cannot look for coordinators: no route' })
    expect(lanChecks(undefined, { needed: false, serve: false })).toEqual([])
    expect(lanChecks(undefined, { needed: true, serve: false })[0]!.status).toBe('skip')
  })
})
