import { afterEach, describe, expect, spyOn, test } from 'bun:test'
import { parseCoordinator } from '../../src/client/address'
import { newSigningKey } from '../../src/protocol/receipt'
import { Agent } from '../../src/worker/agent'
import { buildPolicy } from '../../src/worker/policy'
import type {
  ContainerExit,
  ContainerRuntime,
  ContainerSpec,
  EngineInfo,
  RunningContainer,
} from '../../src/worker/runtime'
import { startTestCoordinator, type TestCoordinator, until } from '../support/coordinator'

// The real agent against a real coordinator, with containers faked: what a reconnect does to
// keys and to results the coordinator has not acknowledged.

const engine: EngineInfo = {
  version: 'fake',
  cpus: 2,
  memoryBytes: 4 * 1024 ** 3,
  endpoint: 'fake',
  runtimes: ['runc'],
}
const usage = { cpuMs: null, peakMemoryBytes: null }

/** Containers that exit with code 0 when the test says so, or 137 when killed. */
class FakeRuntime implements ContainerRuntime {
  readonly exits: (() => void)[] = []
  info = () => Promise.resolve(engine)
  hasImage = () => Promise.resolve(true)
  pull = () => Promise.resolve()
  removeLeftovers = () => Promise.resolve([])
  localImages = () => Promise.resolve([])
  prepare = (ref: string) => Promise.resolve(ref)
  start(
    _spec?: ContainerSpec,
    _onOutput?: (stream: 'stdout' | 'stderr', data: Buffer) => void,
  ): Promise<RunningContainer> {
    let exit!: (exitCode: number) => void
    const exited = new Promise<ContainerExit>((resolve) => {
      exit = (exitCode) => resolve({ exitCode, oomKilled: false, usage })
    })
    this.exits.push(() => exit(0))
    return Promise.resolve({
      id: `fake-${this.exits.length}`,
      wait: () => exited,
      kill: () => Promise.resolve(exit(137)),
      outputUse: () => Promise.resolve(undefined),
      outputs: () => Promise.resolve({ tooBig: false, entries: [], skipped: [], bytes: 0 }),
      remove: () => Promise.resolve(),
    })
  }
}

/** Containers that print `writes` alternating stdout/stderr lines and one large block, then exit 0. */
class NoisyRuntime extends FakeRuntime {
  constructor(private readonly writes: number) {
    super()
  }
  override async start(
    spec: ContainerSpec,
    onOutput: (stream: 'stdout' | 'stderr', data: Buffer) => void,
  ): Promise<RunningContainer> {
    const c = await super.start()
    const exit = this.exits.at(-1)!
    setTimeout(() => {
      for (let i = 0; i < this.writes; i++)
        onOutput(i % 2 ? 'stderr' : 'stdout', Buffer.from(`${spec.name} ${i}\n`))
      onOutput('stdout', Buffer.alloc(200 * 1024, 'x'))
      setTimeout(exit, 10)
    }, 10)
    return c
  }
}

let current: TestCoordinator | undefined
let agent: Agent | undefined
afterEach(async () => {
  await agent?.stop()
  await current?.stop()
  agent = undefined
  current = undefined
})

function startAgent(
  t: TestCoordinator,
  runtime: ContainerRuntime,
  workerId: string,
  logs: string[] = [],
  slots = 1,
) {
  agent = new Agent({
    addr: parseCoordinator(`127.0.0.1:${t.coord.wsPort}`, {
      httpPort: t.coord.wsPort,
      wsPort: t.coord.wsPort,
    }),
    token: () => Promise.resolve(t.token),
    workerId,
    name: 'fake',
    slots,
    engine,
    runtime,
    policy: buildPolicy({ images: ['*'] }, engine, []),
    transfer: {
      inputs: () => Promise.reject(new Error('no inputs in these tests')),
      putOutputs: () => Promise.resolve(),
    },
    key: newSigningKey(),
    backoff: { baseMs: 20, maxMs: 100 },
    log: (l) => logs.push(l),
  })
  return agent
}

describe('the agent across reconnects', () => {
  // BUG (src/worker/agent.ts, hello in connectOnce): `running` lists only the executor's live
  // containers, not jobs whose result is still unacknowledged. A worker that finishes a job while
  // its socket is down says hello without that lease, so the coordinator requeues it as lost
  // (src/coordinator/hub.ts hello) before the resent result arrives; the result is then stale and
  // the finished job runs again. Fix: include the leases of `unacked` results in hello.running.
  test('a result that was not acknowledged before a disconnect settles after the reconnect', async () => {
    const t = (current = await startTestCoordinator())
    const runtime = new FakeRuntime()
    const a = startAgent(t, runtime, 'worker-agent-1')
    const running = a.run()
    await a.ready
    const id = await t.submit()
    await until(async () => (await t.coord.store.queue.job(id))?.state === 'running', 'the job runs')
    // The result frame is lost with the connection that carried it.
    const onFrame = t.coord.hub.onFrame.bind(t.coord.hub)
    const dropped: string[] = []
    const spy = spyOn(t.coord.hub, 'onFrame').mockImplementation((ws, raw) => {
      const text = raw.toString()
      if (text.includes('"job.result"') && dropped.length === 0) return void dropped.push(text)
      onFrame(ws, raw)
    })
    runtime.exits[0]!()
    await until(() => dropped.length === 1, 'the result is sent')
    spy.mockRestore()
    t.coord.hub.closeAll()
    await until(
      async () => (await t.coord.store.queue.job(id))?.state !== 'running',
      'the job moves on',
      10_000,
    )
    await Bun.sleep(300)
    expect(await t.coord.store.queue.job(id)).toMatchObject({ state: 'succeeded', attempt: 1 })
    expect(await t.coord.store.leases.attemptsOf(id)).toMatchObject([{ attempt: 1, outcome: 'exited' }])
    await a.stop()
    await running
  })

  test('a result the coordinator cannot take yet (job.refused, retry) is kept and settles after the next welcome', async () => {
    const t = (current = await startTestCoordinator())
    const runtime = new FakeRuntime()
    const logs: string[] = []
    const a = startAgent(t, runtime, 'worker-agent-3', logs)
    const running = a.run()
    await a.ready
    const id = await t.submit()
    await until(async () => (await t.coord.store.queue.job(id))?.state === 'running', 'the job runs')
    // The coordinator has no check left for this worker's next result: it refuses it for a moment.
    const conn = t.coord.hub.connected()[0]!
    spyOn(conn.checks, 'take').mockReturnValueOnce(false)
    runtime.exits[0]!()
    await until(() => logs.some((l) => l.includes('could not take the result')), 'the refusal is logged')
    expect(logs.find((l) => l.includes('could not take the result'))).toContain('busy')
    expect(await t.coord.store.queue.job(id)).toMatchObject({ state: 'running' })
    // Kept, and sent again once welcomed again.
    t.coord.hub.closeAll()
    await until(
      async () => (await t.coord.store.queue.job(id))?.state === 'succeeded',
      'the kept result settles',
      10_000,
    )
    expect(await t.coord.store.leases.attemptsOf(id)).toMatchObject([{ attempt: 1, outcome: 'exited' }])
    expect(await t.coord.store.credits.audit()).toMatchObject({ ok: true })
    await a.stop()
    await running
  })

  test('a result refused for good (the lease is no longer the worker’s) is logged and dropped', async () => {
    const t = (current = await startTestCoordinator())
    const runtime = new FakeRuntime()
    const logs: string[] = []
    const a = startAgent(t, runtime, 'worker-agent-4', logs)
    const running = a.run()
    await a.ready
    const id = await t.submit()
    await until(async () => (await t.coord.store.queue.job(id))?.state === 'running', 'the job runs')
    const sent: string[] = []
    const onFrame = t.coord.hub.onFrame.bind(t.coord.hub)
    spyOn(t.coord.hub, 'onFrame').mockImplementation((ws, raw) => {
      sent.push(raw.toString())
      onFrame(ws, raw)
    })
    // Cancelled by its owner: the coordinator ends the attempt; the worker's later report of it earns nothing.
    expect((await t.post(`/api/jobs/${id}/cancel`, {}, t.token)).status).toBe(200)
    await until(() => logs.some((l) => l.includes('refused the result')), 'the refusal is logged')
    expect(logs.find((l) => l.includes('refused the result'))).toContain('lease_not_held')
    // Dropped: not sent again after a reconnect, nor held in the hello.
    t.coord.hub.closeAll()
    await until(() => sent.filter((f) => f.includes('"hello"')).length === 1, 'the worker says hello again')
    await Bun.sleep(300)
    expect(sent.filter((f) => f.includes('"job.result"'))).toHaveLength(1)
    expect(JSON.parse(sent.find((f) => f.includes('"hello"'))!)).toMatchObject({ running: [] })
    expect(await t.coord.store.queue.job(id)).toMatchObject({ state: 'cancelled' })
    await a.stop()
    await running
  })

  test('jobs that flood output do not push their honest worker past its socket budget', async () => {
    // A small budget, so that unpaced output would go past it many times over.
    const socketBudget = {
      messagesPerSecond: 100,
      burstMessages: 200,
      bytesPerSecond: 1 << 20,
      burstBytes: 2 << 20,
    }
    const t = (current = await startTestCoordinator({ socketBudget }))
    const logs: string[] = []
    const a = startAgent(t, new NoisyRuntime(3000), 'worker-agent-5', logs, 8)
    const running = a.run()
    await a.ready
    const ids = await Promise.all(Array.from({ length: 8 }, () => t.submit()))
    const began = performance.now()
    await until(
      async () => {
        const jobs = await Promise.all(ids.map((id) => t.coord.store.queue.job(id)))
        return jobs.every((j) => j?.state === 'succeeded')
      },
      'every job ends',
      60_000,
    )
    const ms = performance.now() - began
    expect(logs.filter((l) => l.includes('closed'))).toEqual([])
    // Everything each job wrote arrived, each stream in order.
    for (const id of ids) {
      const chunks = await t.coord.store.leases.output(id, 1, -1)
      const text = (stream: string) =>
        Buffer.concat(chunks.filter((c) => c.stream === stream).map((c) => c.data)).toString()
      const name = `gridx-${id}-1`
      const lines = (odd: number) =>
        Array.from({ length: 1500 }, (_, i) => `${name} ${2 * i + odd}\n`).join('')
      expect(text('stderr')).toBe(lines(1))
      expect(text('stdout')).toBe(lines(0) + 'x'.repeat(200 * 1024))
      expect(chunks.length).toBeLessThan(40)
    }
    let messages = 0
    for (const id of ids) messages += (await t.coord.store.leases.output(id, 1, -1)).length
    console.log(
      `8 noisy jobs (24000 writes, 2.5 MiB): ${messages} output messages in ${Math.round(ms)} ms, no 4429`,
    )
    await a.stop()
    await running
  })

  // BUG (src/worker/agent.ts, connectOnce's onclose): a socket closed with 4403 (the worker id is
  // pinned to another key, or owned by another account) is retried forever; `fatal` is only set
  // when getting a token fails. Fix: on close code CloseCode.forbidden set `this.fatal` to a
  // non-retryable GridError named by the close reason, so `run()` rejects and `gridx work` exits.
  test('a worker refused for its key stops with worker_key_mismatch instead of retrying', async () => {
    const t = (current = await startTestCoordinator())
    const alice = (await t.coord.store.accounts.byName('alice'))!
    await t.coord.store.workers.upsert('worker-agent-2', alice.id, 'fake', 1, newSigningKey().publicKey)
    const logs: string[] = []
    const a = startAgent(t, new FakeRuntime(), 'worker-agent-2', logs)
    const outcome = await Promise.race([
      a.run().then(
        () => 'stopped',
        (err: unknown) => (err as { code?: string }).code ?? String(err),
      ),
      Bun.sleep(2000).then(() => 'still retrying'),
    ])
    expect(logs.some((l) => l.includes('worker_key_mismatch'))).toBe(true)
    expect(outcome).toBe('worker_key_mismatch')
  })
})

describe('the agent and another protocol version', () => {
  test('welcomed with another version, the agent stops with a clear message instead of retrying', async () => {
    // A coordinator of a later release: it answers every hello with its own version.
    let hellos = 0
    const server = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch: (req, srv) =>
        srv.upgrade(req, { data: undefined }) ? undefined : new Response('no', { status: 400 }),
      websocket: {
        message: (ws) => {
          hellos++
          ws.send(JSON.stringify({ type: 'welcome', v: 3, workerId: 'w', heartbeatMs: 5000 }))
        },
      },
    })
    const logs: string[] = []
    try {
      const fake = { coord: { wsPort: server.port }, token: 'gx_test' } as unknown as TestCoordinator
      const a = startAgent(fake, new FakeRuntime(), 'agent-version-1', logs)
      const err = await a.run().then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err).toMatchObject({
        code: 'protocol_version',
        message:
          'this coordinator speaks worker protocol 3 and this worker speaks 2: install the same gridx release on the worker (gridx --version)',
      })
      expect(hellos).toBe(1)
    } finally {
      agent = undefined
      await server.stop(true)
    }
  })
})
