// Soak: thousands of short jobs while workers are killed (SIGKILL) and restarted at random.
// Reports jobs lost (must be 0), jobs that ran to completion twice (must be 0), the ledger
// audit, and the coordinator's memory growth. Run by `make bench`; tune with SOAK_JOBS,
// SOAK_WORKERS, SOAK_SLOTS, SOAK_MAX_SECONDS.
import type { Subprocess } from 'bun'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const BIN = resolve(import.meta.dir, '../dist/gridx')
const IMAGE = 'gridx-local/busybox:latest'
const JOBS = Number(process.env['SOAK_JOBS'] ?? 2000)
const WORKERS = Number(process.env['SOAK_WORKERS'] ?? 3)
const SLOTS = Number(process.env['SOAK_SLOTS'] ?? 2)
const MAX_SECONDS = Number(process.env['SOAK_MAX_SECONDS'] ?? 1200)
const root = mkdtempSync(join(tmpdir(), 'gridx-soak-'))
const procs = new Set<Subprocess>()

/** Ids of this soak's workers (from their worker.json), so cleanup touches only their containers. */
function soakWorkerIds(): string[] {
  const ids: string[] = []
  for (let i = 0; i < WORKERS; i++) {
    try {
      const file = JSON.parse(readFileSync(join(root, `worker-${i}`, 'worker.json'), 'utf8')) as Record<
        string,
        { id: string }
      >
      ids.push(...Object.values(file).map((e) => e.id))
    } catch {
      // that worker never started
    }
  }
  return ids
}

async function containersOf(workerIds: string[]): Promise<string[]> {
  const all: string[] = []
  for (const id of workerIds) {
    const out = await Bun.$`docker ps -aq --filter label=gridx.worker=${id}`.text()
    all.push(...out.trim().split('\n').filter(Boolean))
  }
  return all
}

function spawn(args: string[], home: string): Subprocess<'ignore', 'pipe', 'pipe'> {
  const p = Bun.spawn([BIN, ...args], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', GRIDX_HOME: home },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  procs.add(p)
  void p.exited.then(() => procs.delete(p))
  return p
}

async function waitFor(p: Subprocess<'ignore', 'pipe', 'pipe'>, re: RegExp): Promise<RegExpMatchArray> {
  let text = ''
  const dec = new TextDecoder()
  const reader = p.stderr.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) throw new Error(`process ended before ${re}: ${text}`)
    text += dec.decode(value, { stream: true })
    const m = re.exec(text)
    if (m) {
      // Keep draining so the process never blocks on a full pipe.
      void (async () => {
        while (!(await reader.read()).done) {
          /* discard */
        }
      })()
      return m
    }
  }
}

async function cli(args: string[], home: string): Promise<string> {
  const p = Bun.spawn([BIN, ...args], {
    env: { PATH: process.env['PATH'] ?? '', GRIDX_HOME: home },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [out, err, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ])
  if (code !== 0) throw new Error(`gridx ${args.join(' ')} failed: ${err}`)
  return out
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : NaN
}

async function main(): Promise<void> {
  const coordHome = join(root, 'coordinator')
  const serve = spawn(
    [
      'serve',
      '--host',
      '127.0.0.1',
      '--http-port',
      '0',
      '--ws-port',
      '0',
      '--lease-timeout',
      '3s',
      '--heartbeat',
      '500ms',
    ],
    coordHome,
  )
  const m = await waitFor(serve, /API http:\/\/127\.0\.0\.1:(\d+) /)
  const base = `http://127.0.0.1:${m[1]}`
  const userHome = join(root, 'user')
  await cli(['register', '--coordinator', base, '--user', 'soak', '--password', 'soak-password'], userHome)
  await cli(['credits', 'grant', 'soak', String(JOBS * 20)], userHome)
  const creds = JSON.parse(readFileSync(join(userHome, 'credentials.json'), 'utf8')) as {
    logins: Record<string, Record<string, { token: string }>>
  }
  const token = Object.values(Object.values(creds.logins)[0]!)[0]!.token
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${base}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    })

  const workerHomes = Array.from({ length: WORKERS }, (_, i) => join(root, `worker-${i}`))
  const startWorker = async (i: number) => {
    const w = spawn(
      [
        'work',
        '--coordinator',
        base,
        '--user',
        'soak',
        '--password',
        'soak-password',
        '--images',
        'gridx-local/*',
        '--name',
        `soak-${i}`,
        '--slots',
        String(SLOTS),
      ],
      workerHomes[i]!,
    )
    await waitFor(w, /waiting for jobs/)
    return w
  }
  const workers = await Promise.all(workerHomes.map((_, i) => startWorker(i)))
  const rss0 = rssMb(serve.pid)
  const t0 = performance.now()

  // Submit everything up front, in parallel batches.
  const ids: string[] = []
  const body = JSON.stringify({
    image: IMAGE,
    command: ['sh', '-c', 'echo $GRIDX_JOB_ID'],
    timeoutMs: 60_000,
    cpus: 0.5,
    memoryBytes: 32 << 20,
  })
  for (let i = 0; i < JOBS; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, JOBS - i) }, () =>
        api('/api/jobs', { method: 'POST', body }).then((r) => r.json() as Promise<{ id: string }>),
      ),
    )
    ids.push(...batch.map((j) => j.id))
  }
  console.log(
    `soak: ${ids.length} jobs submitted in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${WORKERS} workers x ${SLOTS} slots; killing workers at random`,
  )

  // Chaos: every 2-6 s SIGKILL a random worker, restart it 1 s later, until every job is final.
  let kills = 0
  let done = false
  const chaos = (async () => {
    while (!done) {
      await Bun.sleep(2000 + Math.random() * 4000)
      if (done) break
      const i = Math.floor(Math.random() * WORKERS)
      workers[i]!.kill('SIGKILL')
      kills++
      await Bun.sleep(1000)
      workers[i] = await startWorker(i)
    }
  })()
  let health = { queuedJobs: 1, runningJobs: 1 }
  let peakRss = rss0
  while (health.queuedJobs + health.runningJobs > 0 && (performance.now() - t0) / 1000 < MAX_SECONDS) {
    await Bun.sleep(1000)
    health = (await (await fetch(`${base}/health`)).json()) as typeof health
    peakRss = Math.max(peakRss, rssMb(serve.pid))
  }
  done = true
  await chaos
  const wallS = (performance.now() - t0) / 1000
  const rss1 = rssMb(serve.pid)

  // Every job: final state, and how many attempts ran to completion.
  let lost = 0
  let platformFailed = 0
  let duplicates = 0
  let succeeded = 0
  let retried = 0
  for (let i = 0; i < ids.length; i += 100) {
    await Promise.all(
      ids.slice(i, i + 100).map(async (id) => {
        const job = (await (await api(`/api/jobs/${id}`)).json()) as { state: string; outcome: string | null }
        const attempts = (await (await api(`/api/jobs/${id}/attempts`)).json()) as {
          outcome: string | null
        }[]
        if (!['succeeded', 'failed', 'cancelled'].includes(job.state)) lost++
        else if (job.state === 'succeeded') succeeded++
        else platformFailed++
        if (attempts.filter((a) => a.outcome === 'exited').length > 1) duplicates++
        if (attempts.length > 1) retried++
      }),
    )
  }
  const audit = JSON.parse(
    await cli(['credits', '--audit', '--json'], userHome).catch(() => '{"ok":false}'),
  ) as { ok: boolean }
  const leftover = (await Bun.$`docker ps -aq --filter label=gridx.job`.text())
    .trim()
    .split('\n')
    .filter(Boolean).length

  const result = {
    jobs: ids.length,
    succeeded,
    lost,
    duplicates,
    failedAfterAllAttempts: platformFailed,
    retried,
    workerKills: kills,
    wallSeconds: Number(wallS.toFixed(1)),
    jobsPerSecond: Number((ids.length / wallS).toFixed(2)),
    ledgerAuditOk: audit.ok,
    coordinatorRssMb: {
      start: Number(rss0.toFixed(1)),
      peak: Number(peakRss.toFixed(1)),
      end: Number(rss1.toFixed(1)),
      growthPct: Number((((rss1 - rss0) / rss0) * 100).toFixed(1)),
    },
    containersLeftRunning: leftover,
  }
  console.log(JSON.stringify(result, null, 2))
  await Bun.write(resolve(import.meta.dir, 'soak-results.json'), JSON.stringify(result, null, 2))
  const ok = lost === 0 && duplicates === 0 && audit.ok
  console.log(ok ? 'soak: PASS (0 lost, 0 duplicates, ledger balanced)' : 'soak: FAIL')
  process.exitCode = ok ? 0 : 1
}

try {
  await main()
} finally {
  for (const p of procs) p.kill('SIGKILL')
  const left = await containersOf(soakWorkerIds())
  if (left.length) await Bun.$`docker rm -f -v ${left}`.quiet().nothrow()
  rmSync(root, { recursive: true, force: true })
}
