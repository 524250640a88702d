import { describe, expect, test } from 'bun:test'
import { expandNames, listInput, parseCoordinatorList } from '../../src/client/address-list'
import { EndpointList, mayTryNext, noneAnswered, noteUnsent } from '../../src/client/failover'
import { gridChecks } from '../../src/cli/doctor-coordinators'
import { GridError } from '../../src/errors'
import { fail, ok, skip } from '../../src/protocol/doctor'
import type { WorkerMessage } from '../../src/protocol/worker'
import { Outgoing } from '../../src/worker/outgoing'
import { reconnectLine } from '../../src/worker/reconnect'

const ports = { httpPort: 8081, wsPort: 8080 }

describe('parseCoordinatorList', () => {
  test('a comma-separated list: each element read as one address, in order', () => {
    const list = parseCoordinatorList('a.lab,b.lab:9000,https://c.lab', ports)
    expect(list.map((a) => [a.httpUrl, a.wsUrl])).toEqual([
      ['http://a.lab:8081', 'ws://a.lab:8080/ws/worker'],
      ['http://b.lab:9000', 'ws://b.lab:9000/ws/worker'],
      ['https://c.lab:443', 'wss://c.lab:443/ws/worker'],
    ])
    expect(listInput(list)).toBe('a.lab,b.lab:9000,https://c.lab')
  })

  test('one address is a list of one, as before', () => {
    expect(parseCoordinatorList('192.168.1.100', ports).map((a) => a.httpUrl)).toEqual([
      'http://192.168.1.100:8081',
    ])
  })

  test('spaces around elements are allowed; repeats are dropped', () => {
    const list = parseCoordinatorList(' a.lab , b.lab,a.lab:8081', ports)
    expect(list.map((a) => a.httpUrl)).toEqual(['http://a.lab:8081', 'http://b.lab:8081'])
  })

  test('a bad element is named by its place, with the usual reason', () => {
    expect(() => parseCoordinatorList('a.lab,b.lab:99999,c.lab', ports)).toThrow(
      /^address 2 of 3 in 'a\.lab,b\.lab:99999,c\.lab': 'b\.lab:99999' is not a coordinator address \(the port must be 1-65535\)/,
    )
    expect(() => parseCoordinatorList('a.lab,ftp://b.lab', ports)).toThrow(
      /address 2 of 2 .*'ftp' is not http/,
    )
  })

  test('an empty element (a stray comma) says so', () => {
    expect(() => parseCoordinatorList('a.lab,,b.lab', ports)).toThrow(
      /address 2 of 3 .*an empty element: remove the extra comma/,
    )
    expect(() => parseCoordinatorList('a.lab,', ports)).toThrow(/address 2 of 2/)
  })

  test('more than 16 addresses is refused', () => {
    const many = Array.from({ length: 17 }, (_, i) => `h${i}.lab`).join(',')
    expect(() => parseCoordinatorList(many, ports)).toThrow(/names 17 addresses; at most 16/)
  })
})

describe('expandNames: a name with several A/AAAA records counts as several', () => {
  const resolver = (table: Record<string, string[]>) => (host: string) => Promise.resolve(table[host] ?? [])

  test('each record becomes an address of its own, the URL names the IP and TLS keeps the name', async () => {
    const [addr] = parseCoordinatorList('https://grid.lab:9443', ports)
    const out = await expandNames([addr!], resolver({ 'grid.lab': ['10.0.0.1', 'fd00::2', '10.0.0.1'] }))
    expect(out.map((a) => [a.httpUrl, a.wsUrl, a.serverName])).toEqual([
      ['https://10.0.0.1:9443', 'wss://10.0.0.1:9443/ws/worker', 'grid.lab'],
      ['https://[fd00::2]:9443', 'wss://[fd00::2]:9443/ws/worker', 'grid.lab'],
    ])
  })

  test('a name with one record, an IP, or a name that does not resolve stays as it is', async () => {
    const addrs = parseCoordinatorList('one.lab,10.0.0.9,nowhere.lab', ports)
    const out = await expandNames(addrs, resolver({ 'one.lab': ['10.0.0.3'] }))
    expect(out).toEqual(addrs)
  })
})

describe('EndpointList: the failover order', () => {
  const endpoints = (input: string) =>
    parseCoordinatorList(input, ports).map((addr) => ({
      addr,
      key: addr.httpUrl,
      pinUnchecked: false,
      reached: false,
    }))

  test('starts at the first, or at the one that answered last time (sticky)', () => {
    expect(new EndpointList(endpoints('a,b,c')).current.addr.host).toBe('a')
    expect(new EndpointList(endpoints('a,b,c'), 'http://b:8081').current.addr.host).toBe('b')
    // An address no longer in the list is ignored.
    expect(new EndpointList(endpoints('a,b,c'), 'http://z:8081').current.addr.host).toBe('a')
  })

  test('moves on in a ring', () => {
    const l = new EndpointList(endpoints('a,b,c'), 'http://c:8081')
    l.use(l.index + 1)
    expect(l.current.addr.host).toBe('a')
    l.use(l.index - 1)
    expect(l.current.addr.host).toBe('c')
  })

  test('after expanding a name, the address that answered last (one record) is still first', async () => {
    const l = new EndpointList(endpoints('a,grid.lab'), 'http://10.0.0.2:8081', (host) =>
      Promise.resolve(host === 'grid.lab' ? ['10.0.0.1', '10.0.0.2'] : []),
    )
    await l.expand()
    expect(l.all.map((e) => e.addr.host)).toEqual(['a', '10.0.0.1', '10.0.0.2'])
    expect(l.current.addr.host).toBe('10.0.0.2')
    expect(l.all.map((e) => e.key)).toEqual(['http://a:8081', 'http://grid.lab:8081', 'http://grid.lab:8081'])
  })
})

describe('mayTryNext: which failures go to the next coordinator', () => {
  const unreachable = () => new GridError('coordinator_unreachable', 'x', { retryable: true })
  const refused = () =>
    noteUnsent(Object.assign(new Error('refused'), { code: 'ConnectionRefused' }), unreachable())
  const reset = () => noteUnsent(Object.assign(new Error('reset'), { code: 'ECONNRESET' }), unreachable())
  const timedOut = () => noteUnsent(Object.assign(new Error('t'), { name: 'TimeoutError' }), unreachable())

  test('a read moves on after any failure of the address', () => {
    for (const err of [refused(), reset(), timedOut()]) expect(mayTryNext(err, true)).toBe(true)
    for (const status of [502, 503, 504])
      expect(mayTryNext(new GridError('coordinator_unreachable', 'gw', { status }), true)).toBe(true)
  })

  test('a submission moves on only when nothing was sent, or the coordinator said 503', () => {
    expect(mayTryNext(refused(), false)).toBe(true)
    expect(mayTryNext(reset(), false)).toBe(false)
    expect(mayTryNext(timedOut(), false)).toBe(false)
    expect(mayTryNext(new GridError('degraded', 'db down', { status: 503 }), false)).toBe(true)
    expect(mayTryNext(new GridError('coordinator_unreachable', 'gw', { status: 504 }), false)).toBe(false)
  })

  test("the coordinator's own answers never move on", () => {
    for (const err of [
      new GridError('unauthorized', 'no', { status: 401 }),
      new GridError('tls_pin_mismatch', 'pin'),
      new GridError('not_found', 'gone', { status: 404 }),
      new Error('plain'),
    ])
      expect(mayTryNext(err, true)).toBe(false)
  })
})

describe('reconnectLine names the address the worker moves to', () => {
  test('lost, and moving on', () => {
    const line = reconnectLine(
      'ws://a:8080/ws/worker',
      { outcome: 'was-ready', reason: 'broke.' },
      true,
      300,
      1,
      'ws://b:8080/ws/worker',
    )
    expect(line).toBe(
      'connection to ws://a:8080/ws/worker lost: broke; moving to ws://b:8080/ws/worker in 0.3 s (attempt 1)',
    )
  })
  test('could not connect, and moving on', () => {
    const line = reconnectLine(
      'ws://a:8080/ws/worker',
      { outcome: 'failed', reason: 'refused' },
      false,
      1200,
      2,
      'ws://b:8080/ws/worker',
    )
    expect(line).toBe(
      'cannot connect to ws://a:8080/ws/worker: refused; moving to ws://b:8080/ws/worker in 1.2 s (attempt 2)',
    )
  })
  test('one address: the words of before', () => {
    expect(reconnectLine('ws://a/ws/worker', { outcome: 'failed', reason: 'x' }, false, 500, 2)).toBe(
      'cannot connect to ws://a/ws/worker: x; next try in 0.5 s (attempt 2)',
    )
  })
})

describe('Outgoing: output in flight when a socket dies is sent again on the next', () => {
  const chunk = (seq: number): WorkerMessage => ({
    type: 'job.output',
    lease: { jobId: 'j', attempt: 1 },
    seq,
    stream: 'stdout',
    dataBase64: 'aGk=',
  })
  const pace = { messagesPerSecond: 1e6, bytesPerSecond: 1e9 }

  test('chunks are forgotten two pongs after the ping that followed them; the rest go again, in order', () => {
    const written: WorkerMessage[] = []
    const o = new Outgoing((t) => written.push(JSON.parse(t) as WorkerMessage))
    o.open(pace)
    o.send(chunk(0))
    o.send(chunk(1))
    o.pinged() // ping 1 follows chunks 0 and 1
    o.send(chunk(2))
    o.pinged() // ping 2 follows chunk 2
    o.send(chunk(3))
    o.ponged() // ping 1 read: 0 and 1 arrived, kept one more beat (they may not be stored yet)
    expect(o.inFlight).toBe(4)
    o.ponged() // ping 2 read: 0 and 1 have had a beat to be stored
    expect(o.inFlight).toBe(2)
    o.close()
    written.length = 0
    o.open(pace)
    expect(written.map((m) => (m as { seq: number }).seq)).toEqual([2, 3])
  })

  test('without pongs nothing written is forgotten', () => {
    const written: WorkerMessage[] = []
    const o = new Outgoing((t) => written.push(JSON.parse(t) as WorkerMessage))
    o.open(pace)
    for (let i = 0; i < 5; i++) o.send(chunk(i))
    o.close()
    written.length = 0
    o.open(pace)
    expect(written.map((m) => (m as { seq: number }).seq)).toEqual([0, 1, 2, 3, 4])
  })
})

describe('gridChecks: doctor with several coordinators', () => {
  const [a, b] = parseCoordinatorList('a.lab,b.lab', ports)
  const up = [ok('http port', 'open'), ok('health', 'Grid-X 1.0')]
  const down = [fail('http port', 'refused', 'start it'), skip('health', 'no connection')]

  test('one section per address and a summary; one down is a warning while another answers', () => {
    const r = gridChecks([
      { addr: a!, results: up },
      { addr: b!, results: down },
    ])
    expect(r.map((c) => [c.check, c.status])).toEqual([
      ['[a.lab] http port', 'ok'],
      ['[a.lab] health', 'ok'],
      ['[b.lab] http port', 'warn'],
      ['[b.lab] health', 'skip'],
      ['coordinators', 'warn'],
    ])
    expect(r.at(-1)!.detail).toStartWith('1 of 2 coordinators answer (http://b.lab:8081 does not)')
    expect(r[2]!.fix).toBe('start it')
  })

  test('none answering fails; all answering is ok', () => {
    const none = gridChecks([
      { addr: a!, results: down },
      { addr: b!, results: down },
    ])
    expect(none.filter((c) => c.status === 'fail').map((c) => c.check)).toEqual([
      '[a.lab] http port',
      '[b.lab] http port',
      'coordinators',
    ])
    const all = gridChecks([
      { addr: a!, results: up },
      { addr: b!, results: up },
    ])
    expect(all.at(-1)).toMatchObject({ status: 'ok', detail: '2 of 2 coordinators answer' })
  })
})

describe('noneAnswered: the error when no coordinator took a call', () => {
  const addr = (host: string) =>
    ({ httpUrl: `http://${host}:8081` }) as Parameters<typeof noneAnswered>[0][0]['addr']
  const dbDown = () =>
    new GridError(
      'database_unreachable',
      'the PostgreSQL database at db:5432 does not answer (Connection closed)',
      {
        status: 503,
        retryable: true,
      },
    )

  test('every coordinator answered the same 503: that answer, not "none answered"', () => {
    const err = noneAnswered([
      { addr: addr('a'), err: dbDown() },
      { addr: addr('b'), err: dbDown() },
    ])
    expect(err.code).toBe('database_unreachable')
    expect(err.status).toBe(503)
    expect(err.message).toBe(
      'both coordinators answered: the PostgreSQL database at db:5432 does not answer (Connection closed)',
    )
  })

  test('an address that did not answer keeps the list of each cause', () => {
    const err = noneAnswered([
      { addr: addr('a'), err: dbDown() },
      { addr: addr('b'), err: new GridError('coordinator_unreachable', 'refused', { status: 502 }) },
    ])
    expect(err.code).toBe('no_coordinator_answers')
    expect(err.message).toContain('http://b:8081: refused')
  })
})
