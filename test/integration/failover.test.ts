import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync, rmSync } from 'node:fs'
import type { TCPSocketListener } from 'bun'
import { parseCoordinatorList } from '../../src/client/address-list'
import { ApiClient } from '../../src/client/api'
import { EndpointList } from '../../src/client/failover'
import { loginAndSave, openSession } from '../../src/cli/session'
import { GridError } from '../../src/errors'
import { startTestCoordinator, type TestCoordinator } from '../support/coordinator'
import { fakeAgent } from '../support/fake-agent'
import { tempDir } from '../e2e/harness'

// Several coordinator addresses against real coordinators on loopback: a first address that is
// down (its port closed, or a server that drops every request it reads) and a live second one.

const ports = { httpPort: 0, wsPort: 0 }
let live: TestCoordinator
/** A port nothing listens on: its listener was opened and closed. */
let dead: number
/** A server that reads a request and closes the connection without answering. */
let dropper: TCPSocketListener
const seen: string[] = []

beforeAll(async () => {
  live = await startTestCoordinator()
  const l = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  dead = l.port
  l.stop(true)
  dropper = Bun.listen({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      data(s, chunk) {
        seen.push(Buffer.from(chunk).toString('latin1').split('\r\n')[0]!)
        s.terminate()
      },
    },
  })
})
afterAll(async () => {
  dropper.stop(true)
  await live.stop()
})

const livePort = () => live.coord.httpPort
const client = (input: string, token = live.token) =>
  new ApiClient(
    new EndpointList(
      parseCoordinatorList(input, ports).map((addr) => ({
        addr,
        key: addr.httpUrl,
        pinUnchecked: false,
        reached: false,
      })),
    ),
    token,
  )

describe('a client with several addresses', () => {
  test('the first is down (port closed): the call goes to the second, which is used from then on', async () => {
    const api = client(`127.0.0.1:${dead},127.0.0.1:${livePort()}`)
    const answered: string[] = []
    api.onAnswered = (a) => answered.push(a.httpUrl)
    expect(await api.jobs()).toEqual([])
    expect(api.addr.httpPort).toBe(livePort())
    await api.jobs()
    // Sticky: told once, and the second call did not start at the dead address again.
    expect(answered).toEqual([`http://127.0.0.1:${livePort()}`])
  })

  test('a submission goes on to the second when the first refused the connection (nothing was sent)', async () => {
    const api = client(`127.0.0.1:${dead},127.0.0.1:${livePort()}`)
    const job = await api.submit({
      image: 'img',
      command: ['true'],
      args: [],
      timeoutMs: 60_000,
      cpus: 1,
      memoryBytes: 64 * 1024 ** 2,
      priority: 0,
    })
    expect((await live.job(job.id)).id).toBe(job.id)
  })

  test('a submission is not sent again when the first took it and dropped the connection; a read is', async () => {
    const before = (await client(`127.0.0.1:${livePort()}`).jobs()).length
    const api = client(`127.0.0.1:${dropper.port},127.0.0.1:${livePort()}`)
    seen.length = 0
    const err = await api
      .submit({
        image: 'img',
        command: ['true'],
        args: [],
        timeoutMs: 60_000,
        cpus: 1,
        memoryBytes: 64 * 1024 ** 2,
        priority: 0,
      })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(GridError)
    expect((err as GridError).code).toBe('coordinator_unreachable')
    // One request reached it (the client also reads what the port serves, to explain the reset: no request).
    expect(seen.filter((l) => /^[A-Z]+ \//.test(l))).toEqual(['POST /api/jobs HTTP/1.1'])
    expect((await client(`127.0.0.1:${livePort()}`).jobs()).length).toBe(before)
    // The same list, for a read: the first drops it too, and the second answers.
    const api2 = client(`127.0.0.1:${dropper.port},127.0.0.1:${livePort()}`)
    expect((await api2.jobs()).length).toBe(before)
  })

  test('none answering: one error naming each address and its cause', async () => {
    const err = await client(`127.0.0.1:${dead},127.0.0.1:${dropper.port}`)
      .jobs()
      .catch((e: unknown) => e)
    expect((err as GridError).code).toBe('no_coordinator_answers')
    expect((err as GridError).message).toContain('none of the 2 coordinators answered:')
    expect((err as GridError).message).toContain(`http://127.0.0.1:${dead}: cannot reach the coordinator`)
    expect((err as GridError).message).toContain(`http://127.0.0.1:${dropper.port}: `)
  })
})

describe('the login saves the list; later sessions start where the last answer came from', () => {
  test('login through a list whose first is down', async () => {
    const home = tempDir('failover-login')
    try {
      const list = `127.0.0.1:${dead},127.0.0.1:${livePort()}`
      const env = { GRIDX_HOME: home, GRIDX_COORDINATOR: list }
      const s = openSession({}, env)
      await loginAndSave(s, { user: 'alice', password: 'password-123' })
      const file = JSON.parse(readFileSync(`${home}/credentials.json`, 'utf8')) as {
        current: string
        answered: string
        logins: Record<string, Record<string, { coordinator: string; token: string }>>
      }
      expect(Object.keys(file.logins).sort()).toEqual(
        [`http://127.0.0.1:${dead}`, `http://127.0.0.1:${livePort()}`].sort(),
      )
      expect(Object.values(file.logins).map((l) => l['alice']?.coordinator)).toEqual([list, list])
      expect(file.answered).toBe(`http://127.0.0.1:${livePort()}`)
      // No --coordinator now: the saved list, starting at the one that answered.
      const later = openSession({}, { GRIDX_HOME: home })
      expect(later.addrs.map((a) => a.httpPort)).toEqual([dead, livePort()])
      expect(later.api.addr.httpPort).toBe(livePort())
      expect(await later.api.jobs()).toBeArray()
    } finally {
      rmSync(home, { recursive: true, force: true })
    }
  })
})

describe('a worker with several addresses', () => {
  test('the first refuses: it moves to the second, says so, and is welcomed there', async () => {
    const logs: string[] = []
    const [first, second] = parseCoordinatorList(`127.0.0.1:${dead},127.0.0.1:${livePort()}`, ports)
    const agent = fakeAgent(
      { addr: first!, coordinators: [first!, second!], token: () => Promise.resolve(live.token) },
      logs,
    )
    const run = agent.run()
    await agent.ready
    expect(agent.coordinator.httpPort).toBe(livePort())
    expect(logs[0]).toMatch(
      new RegExp(
        `^cannot reach the coordinator's worker socket at 127\\.0\\.0\\.1:${dead}: connection refused .*; moving to ws://127\\.0\\.0\\.1:${livePort()}/ws/worker in [\\d.]+ s \\(attempt 2\\)`,
      ),
    )
    expect(logs).toContain(`connected to http://127.0.0.1:${livePort()} as worker fake; waiting for jobs`)
    await agent.stop()
    await run
  })
})
