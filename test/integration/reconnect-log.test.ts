import { afterEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseCoordinator } from '../../src/client/address'
import { CredentialStore } from '../../src/client/credentials'
import { work } from '../../src/cli/work'
import { GridError } from '../../src/errors'
import type { Agent } from '../../src/worker/agent'
import { startTestCoordinator, type TestCoordinator, until } from '../support/coordinator'
import { fakeAgent } from '../support/fake-agent'
import { freePort } from '../support/tinyproxy'

// What the worker says while it is cut off: one line per attempt, the reason in words and what it
// does next; each attempt bounded by its own timeout; no raw library error.

const cleanup: (() => unknown)[] = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})

/** A TCP relay to `port` that can be cut like a firewall DROP: bytes stop, nothing is closed. */
async function relay(port: number): Promise<{ port: number; drop: () => void; server: Server }> {
  let dropped = false
  const server = createServer((client: Socket) => {
    const upstream = connect(port, '127.0.0.1')
    client.on('data', (d) => dropped || upstream.write(d))
    upstream.on('data', (d) => dropped || client.write(d))
    const end = () => (client.destroy(), upstream.destroy())
    client.on('error', end).on('close', () => dropped || end())
    upstream.on('error', end).on('close', () => dropped || end())
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  cleanup.push(() => server.close())
  return { port: (server.address() as { port: number }).port, drop: () => (dropped = true), server }
}

function start(
  t: TestCoordinator,
  port: number,
  logs: string[],
  extra: { connectTimeoutMs?: number } = {},
): Agent {
  const agent = fakeAgent(
    {
      addr: parseCoordinator(`127.0.0.1:${port}`, { httpPort: port, wsPort: port }),
      token: () => Promise.resolve(t.token),
      ...extra,
    },
    logs,
  )
  cleanup.push(() => agent.stop())
  void agent.run().catch(() => undefined)
  return agent
}

/** Log lines about connecting: every one must say why in words and what happens next. */
const RECONNECT =
  /^(connection to ws:\/\/\S+ lost: .+; reconnecting in [\d.]+ s \(attempt \d+\)|.+; next try in [\d.]+ s \(attempt \d+\))$/

describe('the worker reconnecting', () => {
  test('a dropped link is noticed by the silence and said in words; then each attempt times out and says so', async () => {
    const t = await startTestCoordinator({ heartbeatMs: 250 })
    cleanup.push(() => t.stop())
    const link = await relay(t.coord.wsPort)
    const logs: string[] = []
    const agent = start(t, link.port, logs, { connectTimeoutMs: 1500 })
    await agent.ready
    const from = logs.length
    link.drop()
    await until(() => logs.slice(from).some((l) => l.includes('lost:')), 'the loss is logged', 15_000)
    const lost = logs.slice(from).find((l) => l.includes('lost:'))!
    expect(lost).toMatch(
      /lost: no heartbeat answer for 1\.0 s \(a firewall or the network dropped it\); reconnecting in [\d.]+ s \(attempt 1\)$/,
    )
    // The relay still accepts but passes nothing on: each attempt gives up on its own, and says so.
    await until(
      () => logs.slice(from).filter((l) => l.includes('timed out after 1.5 s')).length >= 2,
      'two attempts time out',
      20_000,
    )
    const timedOut = logs.slice(from).filter((l) => l.includes('timed out after'))
    expect(timedOut[0]).toMatch(
      /cannot connect to ws:\/\/127\.0\.0\.1:\d+\/ws\/worker: timed out after 1\.5 s, no answer \(a firewall dropping the traffic, or a wrong address\?\); next try in [\d.]+ s \(attempt 2\)$/,
    )
    expect(timedOut[1]).toContain('(attempt 3)')
    for (const l of logs.slice(from).filter((l) => !/^worker \w+ -> \w+$/.test(l)))
      expect(l).toMatch(RECONNECT)
  }, 60_000)

  test('a stopped coordinator: the loss, then refused attempts, each in words', async () => {
    const t = await startTestCoordinator()
    cleanup.push(() => t.stop())
    const logs: string[] = []
    const agent = start(t, t.coord.wsPort, logs)
    await agent.ready
    const from = logs.length
    const port = t.coord.wsPort
    await t.coord.stop()
    await until(() => logs.slice(from).some((l) => l.includes('(attempt 3)')), 'two failed attempts', 15_000)
    const lines = logs.slice(from).filter((l) => !/^worker \w+ -> \w+$/.test(l))
    expect(lines[0]).toMatch(
      /^connection to ws:\/\/127\.0\.0\.1:\d+\/ws\/worker lost: the coordinator is going away \(1001 coordinator stopping\): it is stopping or restarting; reconnecting in [\d.]+ s \(attempt 1\)$/,
    )
    expect(lines[1]).toContain(
      `cannot reach the coordinator's worker socket at 127.0.0.1:${port}: connection refused`,
    )
    for (const l of lines) {
      expect(l).toMatch(RECONNECT)
      expect(l).not.toMatch(/failed: |Timeout$|Failed to connect/)
    }
  }, 60_000)
})

describe('gridx work with a saved login', () => {
  test('a coordinator that does not answer at start stops the worker at once, saying why', async () => {
    const home = mkdtempSync(join(tmpdir(), 'gridx-savedlogin-'))
    cleanup.push(() => rmSync(home, { recursive: true, force: true }))
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    new CredentialStore(home).save(url, {
      token: 'gxt_saved',
      user: 'alice',
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      coordinator: `127.0.0.1:${port}`,
    })
    const before = process.env['GRIDX_HOME']
    process.env['GRIDX_HOME'] = home
    cleanup.push(() =>
      before === undefined ? delete process.env['GRIDX_HOME'] : (process.env['GRIDX_HOME'] = before),
    )
    const started = Date.now()
    let err: unknown
    try {
      await Promise.race([
        work({ coordinator: `127.0.0.1:${port}` }, () => () => undefined),
        Bun.sleep(30_000).then(() => {
          throw new Error('still running after 30 s: the worker retries instead of stopping')
        }),
      ])
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(GridError)
    expect((err as GridError).code).toBe('coordinator_unreachable')
    expect((err as GridError).message).toContain(
      `cannot reach the coordinator at 127.0.0.1:${port}: connection refused`,
    )
    expect((err as GridError).message).toContain('The worker did not start')
    expect(Date.now() - started).toBeLessThan(20_000)
  }, 60_000)
})
