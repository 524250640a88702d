import { describe, expect, test } from 'bun:test'
import { type FindDeps, findCoordinator } from '../../src/cli/find-coordinator'
import type { FoundCoordinator } from '../../src/client/discovery'
import { GridError } from '../../src/errors'

const FP = `AA:${Array(31).fill('11').join(':')}`
const OTHER = `BB:${Array(31).fill('22').join(':')}`

function coordinator(over: Partial<FoundCoordinator>): FoundCoordinator {
  return {
    name: 'lab-pc',
    host: 'lab-pc.local',
    port: 8081,
    addresses: ['10.0.0.1'],
    tls: false,
    fingerprint: undefined,
    publicUrl: undefined,
    version: '0.1.0',
    ttl: 120,
    url: 'http://10.0.0.1:8081',
    ...over,
  }
}

/** Fake world: what the LAN answers, the certificate served, the terminal's answers. */
function deps(
  found: FoundCoordinator[],
  o: { tty?: boolean; answers?: string[]; cert?: string; local?: boolean } = {},
) {
  const notes: string[] = []
  const asked: string[] = []
  const d: FindDeps = {
    browse: () => Promise.resolve({ found, problem: found.length ? undefined : 'no route' }),
    certificate: () => Promise.resolve(o.cert),
    local: () => Promise.resolve(o.local ?? false),
    tty: o.tty ?? false,
    ask: (q) => (asked.push(q), Promise.resolve(o.answers?.shift() ?? '')),
    note: (l) => notes.push(l),
  }
  return { d, notes, asked }
}

async function refusal(p: Promise<unknown>): Promise<GridError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(err instanceof GridError)) throw new Error(`expected a GridError, got ${String(err)}`)
  return err
}

describe('finding a coordinator without an address', () => {
  test('one plain-HTTP coordinator: used, and said so; no pin', async () => {
    const { d, notes } = deps([coordinator({})])
    expect(await findCoordinator('work', 8081, d)).toEqual({ url: 'http://10.0.0.1:8081' })
    expect(notes).toContain('found coordinator lab-pc at http://10.0.0.1:8081 on the local network')
  })

  test('a coordinator answering on this machine comes first, without looking further', async () => {
    const { d } = deps([coordinator({})], { local: true })
    expect(await findCoordinator('login', 9081, d)).toEqual({ url: 'http://127.0.0.1:9081' })
  })

  test('none: says how to pass --coordinator and that discovery needs multicast on the LAN', async () => {
    const err = await refusal(findCoordinator('work', 8081, deps([]).d))
    expect(err.code).toBe('no_coordinator_found')
    expect(err.message).toContain("'gridx work --coordinator 192.168.1.100'")
    expect(err.message).toContain('(no route)')
    expect(err.message).toContain('multicast (UDP 5353)')
  })

  test('several without a terminal: refused, listing one --coordinator line each', async () => {
    const two = [coordinator({}), coordinator({ name: 'other', url: 'http://10.0.0.2:8081' })]
    const err = await refusal(findCoordinator('login', 8081, deps(two).d))
    expect(err.code).toBe('several_coordinators')
    expect(err.message).toContain('gridx login --coordinator http://10.0.0.1:8081   # lab-pc')
    expect(err.message).toContain('gridx login --coordinator http://10.0.0.2:8081   # other')
  })

  test('several on a terminal: listed and asked; the number typed is used, a wrong one refused', async () => {
    const two = [coordinator({}), coordinator({ name: 'other', url: 'http://10.0.0.2:8081' })]
    const picked = deps(two, { tty: true, answers: ['2'] })
    expect((await findCoordinator('work', 8081, picked.d)).url).toBe('http://10.0.0.2:8081')
    expect(picked.notes).toContain('  2) other at http://10.0.0.2:8081')
    expect(picked.asked).toEqual(['which one? [1-2] '])
    const wrong = await refusal(findCoordinator('work', 8081, deps(two, { tty: true, answers: ['3'] }).d))
    expect(wrong.code).toBe('no_coordinator_chosen')
  })
})

describe('trusting a TLS coordinator found on the LAN', () => {
  const tls = coordinator({ tls: true, fingerprint: FP, url: 'https://10.0.0.1:8081' })

  test('the fingerprint shown on a terminal and a yes: pinned', async () => {
    const { d, notes, asked } = deps([tls], {
      tty: true,
      answers: ['y'],
      cert: FP.replace(/:/g, '').toLowerCase(),
    })
    expect(await findCoordinator('work', 8081, d)).toEqual({ url: 'https://10.0.0.1:8081', pin: FP })
    expect(notes).toContain(`certificate SHA-256 fingerprint: ${FP}`)
    expect(asked).toEqual(['trust it? [y/N] '])
  })

  test('anything but yes is no', async () => {
    for (const answer of ['', 'n', 'sure']) {
      const err = await refusal(
        findCoordinator('work', 8081, deps([tls], { tty: true, answers: [answer], cert: FP }).d),
      )
      expect(err.code).toBe('untrusted_discovery')
    }
  })

  test('without a terminal: refused, pointing to the join line', async () => {
    const err = await refusal(findCoordinator('work', 8081, deps([tls], { cert: FP }).d))
    expect(err.code).toBe('untrusted_discovery')
    expect(err.message).toContain(FP)
    expect(err.message).toContain("join line 'gridx serve' printed")
  })

  test('a served certificate other than the advertised one is refused with both fingerprints, before any question', async () => {
    const { d, asked } = deps([tls], { tty: true, answers: ['y'], cert: OTHER })
    const err = await refusal(findCoordinator('work', 8081, d))
    expect(err.code).toBe('advertised_fingerprint_mismatch')
    expect(err.message).toContain(OTHER)
    expect(err.message).toContain(FP)
    expect(asked).toEqual([])
  })

  test('no advertised fingerprint, or no certificate readable: refused', async () => {
    const bare = coordinator({ tls: true, url: 'https://10.0.0.1:8081' })
    expect((await refusal(findCoordinator('work', 8081, deps([bare], { tty: true, cert: FP }).d))).code).toBe(
      'untrusted_discovery',
    )
    expect((await refusal(findCoordinator('work', 8081, deps([tls], { tty: true }).d))).code).toBe(
      'coordinator_unreachable',
    )
  })
})
