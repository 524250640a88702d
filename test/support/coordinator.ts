import { rmSync } from 'node:fs'
import { startCoordinator, type Coordinator, type CoordinatorOptions } from '../../src/coordinator/server'
import type { Settings } from '../../src/coordinator/settings'
import { JobView } from '../../src/protocol/api'
import {
  PROTOCOL_VERSION,
  type CoordinatorMessage,
  type LeaseRef,
  type WorkerMessage,
} from '../../src/protocol/worker'
import { tempDir } from '../e2e/harness'
import type { TestWorker } from './worker-keys'

/** A real coordinator on free loopback ports with a fresh database, and alice logged in. */
export interface TestCoordinator {
  coord: Coordinator
  base: string
  token: string
  post(path: string, body: unknown, token?: string): Promise<Response>
  /** Registers another user with an invite alice (the operator) makes; returns their token. */
  addUser(name: string, password?: string): Promise<string>
  /** Submits a small command job as alice; returns its id. */
  submit(): Promise<string>
  /** Alice's view of a job. */
  job(id: string): Promise<JobView>
  /** Stops the coordinator and removes its data. */
  stop(): Promise<void>
}

/**
 * Starts a coordinator for one test (`extra`: e.g. a PostgreSQL `database`, a `blobDir`, a `log`,
 * a structured `logger` that then gets the free-text lines too).
 */
export async function startTestCoordinator(
  settings: Partial<Settings> = {},
  extra: Partial<Pick<CoordinatorOptions, 'database' | 'blobDir' | 'log' | 'logger' | 'metricsToken'>> = {},
): Promise<TestCoordinator> {
  const dir = tempDir('hub')
  const coord = await startCoordinator({
    host: '127.0.0.1',
    httpPort: 0,
    wsPort: 0,
    dataDir: dir,
    settings,
    ...(extra.logger ? {} : { log: () => undefined }),
    ...extra,
  })
  const base = `http://127.0.0.1:${coord.httpPort}`
  const post = (path: string, body: unknown, token?: string) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    })
  // On a shared database alice may exist already (registered through another coordinator).
  await post('/api/auth/register', { user: 'alice', password: 'password-123' })
  const login = async (user: string, password: string) => {
    const res = await post('/api/auth/login', { user, password })
    if (res.status !== 200) throw new Error(`login ${user}: ${res.status} ${await res.text()}`)
    return ((await res.json()) as { token: string }).token
  }
  const token = await login('alice', 'password-123')
  const spec = { image: 'img', command: ['true'], timeoutMs: 60_000, cpus: 1, memoryBytes: 64 * 1024 ** 2 }
  return {
    coord,
    base,
    token,
    post,
    addUser: async (name, password = `${name}-password`) => {
      const made = await post('/api/invites', {}, token)
      if (made.status !== 201) throw new Error(`invite: ${made.status} ${await made.text()}`)
      const { code } = (await made.json()) as { code: string }
      const res = await post('/api/auth/register', { user: name, password, invite: code })
      if (res.status !== 201) throw new Error(`register ${name}: ${res.status} ${await res.text()}`)
      return login(name, password)
    },
    submit: async () => {
      const res = await post('/api/jobs', spec, token)
      if (res.status !== 201) throw new Error(`submit: ${res.status} ${await res.text()}`)
      return ((await res.json()) as { id: string }).id
    },
    job: async (id) =>
      JobView.parse(
        await (
          await fetch(`${base}/api/jobs/${id}`, { headers: { authorization: `Bearer ${token}` } })
        ).json(),
      ),
    stop: async () => {
      await coord.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** The engines a test runs on: SQLite with archives on disk, PostgreSQL with archives in chunks. */
export const ENGINES = ['sqlite', 'postgres'] as const
/** One of `ENGINES`. */
export type Engine = (typeof ENGINES)[number]

/** The archive digests a coordinator's blob store holds, sorted. */
export async function storedDigests(coord: Coordinator): Promise<string[]> {
  const all: string[] = []
  for await (const b of coord.blobs.list()) all.push(b.sha256)
  return all.sort()
}

/** A raw worker socket that records what the coordinator sends. */
export function connect(port: number, token?: string) {
  const ws = new WebSocket(
    `ws://127.0.0.1:${port}/ws/worker`,
    token ? { headers: { authorization: `Bearer ${token}` } } : {},
  )
  const got: CoordinatorMessage[] = []
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.onclose = (e) => resolve({ code: e.code, reason: e.reason })
  })
  ws.onmessage = (e) => got.push(JSON.parse(e.data as string) as CoordinatorMessage)
  const opened = new Promise<boolean>((resolve) => {
    ws.onopen = () => resolve(true)
    ws.onerror = () => resolve(false)
  })
  const send = (m: WorkerMessage | Record<string, unknown>) => ws.send(JSON.stringify(m))
  /** Takes the first message of a type, waiting for it. */
  async function next<T extends CoordinatorMessage['type']>(
    type: T,
    ms = 5000,
  ): Promise<Extract<CoordinatorMessage, { type: T }>> {
    const deadline = Date.now() + ms
    for (;;) {
      const i = got.findIndex((m) => m.type === type)
      if (i >= 0) return got.splice(i, 1)[0] as Extract<CoordinatorMessage, { type: T }>
      if (Date.now() > deadline) throw new Error(`no ${type} within ${ms} ms; got ${JSON.stringify(got)}`)
      await Bun.sleep(10)
    }
  }
  return { ws, got, closed, opened, send, next }
}

/** A connected raw worker socket. */
export type RawWorker = ReturnType<typeof connect>

/** The hello of a test worker, with its public key. */
export const hello = (worker: TestWorker, running: LeaseRef[] = []): WorkerMessage => ({
  type: 'hello',
  v: PROTOCOL_VERSION,
  workerId: worker.id,
  name: 'raw',
  version: 'test',
  slots: 1,
  cpus: 2,
  memoryBytes: 4 * 1024 ** 3,
  docker: 'none',
  publicKey: worker.key.publicKey,
  running,
  policy: { maxTimeoutMs: null, images: ['*'], workdirBytes: null },
})

/** Connects `worker`, says hello and waits for the welcome. */
export async function connectWorker(
  t: TestCoordinator,
  worker: TestWorker,
  running: LeaseRef[] = [],
): Promise<RawWorker> {
  const c = connect(t.coord.wsPort, t.token)
  if (!(await c.opened)) throw new Error('the worker socket did not open')
  c.send(hello(worker, running))
  await c.next('welcome')
  return c
}

/** Polls until `check` holds (for effects of messages the coordinator does not acknowledge). */
export async function until(check: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`)
    await Bun.sleep(5)
  }
}
