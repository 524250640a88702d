// The coordinators of one dispatch-bench configuration: one on SQLite, or several on one
// PostgreSQL database, started from the compiled binary; the bench's accounts on them.
import { mkdirSync } from 'node:fs'
import { request } from 'node:http'
import { SQL } from 'bun'
import { Background, baseEnv } from './proc'
import { cpuMs, writtenBytes } from './profile'

/** A `gridx serve` process of the bench. */
export interface BenchCoordinator {
  proc: Background
  /** Its data directory (GRIDX_HOME). */
  dir: string
  http: string
  ws: string
}

/** Credits every bench account starts with: far more than the escrow of every job it submits. */
const GRANT_CREDITS = 10_000_000

/** The account whose workers run the jobs (the first registered, so the operator). */
export const WORKER_OWNER = 'bench-op'

/** Starts `gridx serve` on free loopback ports (no mDNS, open sign-up) and waits for its banner. */
export async function startCoordinator(
  bin: string[],
  dir: string,
  database: string | undefined,
  label: string,
): Promise<BenchCoordinator> {
  mkdirSync(dir, { recursive: true })
  const argv = [...bin, 'serve', '--host', '127.0.0.1', '--http-port', '0', '--ws-port', '0']
  argv.push('--data-dir', dir, '--no-advertise', '--signup', 'open', '--grant', String(GRANT_CREDITS))
  if (database) argv.push('--database', database)
  const proc = new Background(label, argv, baseEnv({ GRIDX_HOME: dir }))
  const m = await proc.waitFor(
    /listening: API http:\/\/127\.0\.0\.1:(\d+) .*workers ws:\/\/127\.0\.0\.1:(\d+)\/ws\/worker/,
    60_000,
  )
  return { proc, dir, http: `http://127.0.0.1:${m[1]}`, ws: `ws://127.0.0.1:${m[2]}/ws/worker` }
}

/** POSTs JSON; the parsed answer, or an error naming the path and status. */
export async function postJson(url: string, body: unknown, token?: string): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`POST ${new URL(url).pathname}: HTTP ${res.status}: ${text}`)
  return JSON.parse(text) as unknown
}

/** Sign-ups made so far: each comes from its own loopback address (see `registerFrom`). */
let signups = 0

/**
 * POSTs a sign-up from loopback address `from`: the coordinator allows 10 sign-ups per address
 * in a burst, and the backlog bench makes 50 accounts (fetch cannot choose its source address).
 */
async function registerFrom(url: string, body: unknown, from: string): Promise<void> {
  const text = JSON.stringify(body)
  const { status, answer } = await new Promise<{ status: number; answer: string }>((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', localAddress: from, headers: { 'content-type': 'application/json' } },
      (res) => {
        let answer = ''
        res.on('data', (d: Buffer) => (answer += d.toString()))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, answer }))
      },
    )
    req.on('error', reject)
    req.end(text)
  })
  if (status !== 201 && status !== 200) throw new Error(`POST /api/auth/register: HTTP ${status}: ${answer}`)
}

/** Registers `name` (sign-up is open) and logs in; returns the token. */
export async function account(http: string, name: string): Promise<string> {
  const password = `${name}-password-1`
  await registerFrom(
    `${http}/api/auth/register`,
    { user: name, password },
    `127.0.0.${2 + (signups++ % 250)}`,
  )
  const r = (await postJson(`${http}/api/auth/login`, { user: name, password })) as { token: string }
  return r.token
}

/** A job that costs the coordinator what any job does, and the (simulated) worker nothing. */
export const JOB = {
  image: 'gridx-bench/none',
  command: ['true'],
  timeoutMs: 60_000,
  cpus: 1,
  memoryBytes: 64 * 1024 * 1024,
}

/**
 * Submits `n` jobs through the API, shared round-robin among `tokens` (users), `parallel`
 * requests at a time per user (the coordinator allows 16 bodies in flight per user), spread
 * over `https` (coordinators). Returns the ids with the index of the user that submitted each.
 */
export async function submitJobs(
  https: string[],
  tokens: string[],
  n: number,
  parallel: number,
): Promise<{ id: string; user: number }[]> {
  const ids: { id: string; user: number }[] = []
  let next = 0
  const lane = async (u: number, lane: number) => {
    for (;;) {
      const i = next++
      if (i >= n) return
      const http = https[(u + lane) % https.length]!
      const user = i % tokens.length
      const job = (await postJson(`${http}/api/jobs`, JOB, tokens[user])) as { id: string }
      ids.push({ id: job.id, user })
    }
  }
  const lanes: Promise<void>[] = []
  for (let u = 0; u < tokens.length; u++) for (let l = 0; l < parallel; l++) lanes.push(lane(u, l))
  await Promise.all(lanes)
  return ids
}

/** `GET /health` counts. */
export async function health(http: string): Promise<{ queuedJobs: number; runningJobs: number }> {
  const res = await fetch(`${http}/health`)
  return (await res.json()) as { queuedJobs: number; runningJobs: number }
}

/** A new empty database on the bench's cluster; its URL. */
export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  const sql = new SQL(adminUrl, { max: 1, connectionTimeout: 10 })
  try {
    await sql.unsafe(`CREATE DATABASE ${name}`)
  } finally {
    await sql.close()
  }
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/** `measure` of each coordinator process, summed (one that is gone counts 0). */
function summed(coords: BenchCoordinator[], measure: (pid: number) => number): number {
  return coords.reduce((a, c) => {
    const v = measure(c.proc.pid)
    return Number.isFinite(v) ? a + v : a
  }, 0)
}

/** CPU milliseconds used so far by each coordinator process, summed. */
export function coordinatorsCpuMs(coords: BenchCoordinator[]): number {
  return summed(coords, cpuMs)
}

/** Bytes the coordinator processes have written to storage so far (their SQLite files), summed. */
export function coordinatorsWrittenBytes(coords: BenchCoordinator[]): number {
  return summed(coords, writtenBytes)
}
