import { afterEach, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { BB_IMAGE, type Grid, gridx, type Proc, spawnGridx, startGrid } from './harness'

// Fault tolerance end to end: real coordinator, real workers, real Docker, real signals.
// Short leases so that faults are noticed in seconds: silent sockets close after 2 s, leases
// expire 3 s after their last renewal.
const FAST = ['--lease-timeout', '3s', '--heartbeat', '500ms']

type Env = Record<string, string>

interface Attempt {
  attempt: number
  worker: string
  outcome: string | null
  reason: string | null
  signed: boolean
}

interface Job {
  id: string
  state: string
  worker: string | null
  waiting: string | null
  exitCode: number | null
  outcome: string | null
  priority: number
  costMc: number | null
  maxCostMc: number
  createdAt: string
  startedAt: string | null
  finishedAt: string | null
}

interface Credits {
  balanceMc: number
  escrowMc: number
}

interface Audit {
  ok: boolean
  minted: number
  balances: number
  escrow: number
}

let grid: Grid | undefined
afterEach(async () => {
  await grid?.close()
  grid = undefined
})

/** Runs `gridx ARGS --json` and parses its output; a failed command fails the test. */
async function json<T>(args: string[], env: Env): Promise<T> {
  const r = await gridx([...args, '--json'], env)
  if (r.code !== 0) throw new Error(`gridx ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

const status = (env: Env, id: string) => json<Job & { attempts: Attempt[] }>(['status', id], env)
const jobsOf = (env: Env, limit = 100) => json<Job[]>(['jobs', '--all', '--limit', String(limit)], env)
const credits = (env: Env) => json<Credits>(['credits'], env)
const audit = (operator: Env) => json<Audit>(['credits', '--audit'], operator)
const workerIds = async (env: Env) =>
  new Map((await json<{ id: string; name: string }[]>(['workers'], env)).map((w) => [w.name, w.id]))

/** The HTTP API as a user's saved login sees it, for bulk set-up and checks the CLI would make slow. */
function api(env: Env) {
  const base = `http://127.0.0.1:${grid!.httpPort}`
  const saved = JSON.parse(readFileSync(`${env['GRIDX_HOME']}/credentials.json`, 'utf8')) as {
    logins: Record<string, Record<string, { token: string }>>
  }
  const token = Object.values(saved.logins[base]!)[0]!.token
  return async <T>(path: string, body?: unknown): Promise<T> => {
    const r = await fetch(`${base}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status} ${await r.text()}`)
    return (await r.json()) as T
  }
}

/** Polls `probe` until it returns something other than undefined/false. */
async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  ms = 30_000,
  everyMs = 150,
): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await probe()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) throw new Error(`gave up after ${ms} ms waiting for ${what}`)
    await Bun.sleep(everyMs)
  }
}

/** Ids of the containers (running or not) that carry every one of `labels`. */
async function containers(...labels: string[]): Promise<string[]> {
  const p = Bun.spawn(['docker', 'ps', '-a', '-q', ...labels.flatMap((l) => ['--filter', `label=${l}`])], {
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [out, err, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ])
  if (code !== 0) throw new Error(`docker ps failed: ${err}`)
  return out.split('\n').filter(Boolean)
}

/** Runs `f(0..n-1)` with at most `width` at a time, results in order. */
async function pool<T>(n: number, width: number, f: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(n)
  let next = 0
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let i = next++; i < n; i = next++) out[i] = await f(i)
    }),
  )
  return out
}

/** Submits a detached job and returns its id. */
async function submitDetached(env: Env, cmd: string[], extra: string[] = []): Promise<string> {
  const timeout = extra.includes('--timeout') ? [] : ['--timeout', '1m']
  const r = await gridx(['submit', '--detach', '--image', BB_IMAGE, ...timeout, ...extra, '--', ...cmd], env)
  if (r.code !== 0) throw new Error(`submit failed (${r.code}): ${r.stderr}`)
  return r.stdout.trim()
}

/** Starts an attached `gridx submit` and returns it with the id it announces. */
async function submitAttached(env: Env, cmd: string[]): Promise<{ sub: Proc; id: string }> {
  const sub = spawnGridx(['submit', '--image', BB_IMAGE, '--timeout', '1m', '--', ...cmd], env)
  const m = await sub.waitFor(/job (\S+) queued/)
  return { sub, id: m[1]! }
}

/** Waits until the job runs (its container has started) and returns the worker's name. */
async function runningOn(env: Env, id: string): Promise<string> {
  const st = await until(`job ${id} to run`, async () => {
    const s = await status(env, id)
    return s.state === 'running' ? s : undefined
  })
  return st.worker!
}

/** Resolves with the process' exit code, or fails after `ms`. */
async function exitOf(p: Proc, ms = 30_000): Promise<number> {
  const t = setTimeout(() => p.proc.kill('SIGKILL'), ms)
  const code = await p.proc.exited
  clearTimeout(t)
  if (p.proc.signalCode === 'SIGKILL')
    throw new Error(`did not exit within ${ms} ms\nstdout:\n${p.stdout()}\nstderr:\n${p.stderr()}`)
  return code
}

const ms = (iso: string | null) => (iso === null ? Infinity : Date.parse(iso))

/** The operator (first account), a submitter and two worker owners, registered in parallel. */
async function cast(g: Grid): Promise<{ op: Env; alice: Env; bob: Env; carol: Env }> {
  const op = await g.user('operator')
  const [alice, bob, carol] = await Promise.all([g.user('alice'), g.user('bob'), g.user('carol')])
  return { op, alice, bob, carol }
}

describe('a worker dies or freezes', () => {
  test('kill -9 mid-job: the job reruns on the other worker, is paid once, and the leftover container goes on restart', async () => {
    grid = await startGrid(FAST)
    const { op, alice, bob, carol } = await cast(grid)
    const owners: Record<string, Env> = { w1: bob, w2: carol }
    const [p1, p2] = await Promise.all([
      grid.worker(bob, 'w1', ['--slots', '1']),
      grid.worker(carol, 'w2', ['--slots', '1']),
    ])
    const procs: Record<string, Proc> = { w1: p1, w2: p2 }
    const ids = await workerIds(alice)
    const before = { alice: await credits(alice), w1: await credits(bob), w2: await credits(carol) }

    const { sub, id } = await submitAttached(alice, ['sh', '-c', 'sleep 3; echo done'])
    const victim = (await runningOn(alice, id)) as 'w1' | 'w2'
    const survivor = victim === 'w1' ? 'w2' : 'w1'
    procs[victim]!.proc.kill('SIGKILL')
    expect(await procs[victim]!.proc.exited).not.toBe(0)

    // The attached submit sees nothing but a longer wait.
    expect(await exitOf(sub, 45_000)).toBe(0)
    expect(sub.stdout()).toBe('done\n')

    const st = await status(alice, id)
    expect(st.state).toBe('succeeded')
    expect(st.exitCode).toBe(0)
    expect(st.worker).toBe(survivor)
    expect(st.attempts).toHaveLength(2)
    expect(st.attempts[0]).toMatchObject({ attempt: 1, worker: victim, outcome: 'lost' })
    expect(st.attempts[1]).toMatchObject({ attempt: 2, worker: survivor, outcome: 'exited', signed: true })
    const cost = st.costMc!
    expect(cost).toBeGreaterThan(0)

    // Charged once, paid to the worker that finished it; the dead worker's owner gets nothing.
    const after = { alice: await credits(alice), w1: await credits(bob), w2: await credits(carol) }
    expect(before.alice.balanceMc - after.alice.balanceMc).toBe(cost)
    expect(after.alice.escrowMc).toBe(0)
    expect(after[victim].balanceMc).toBe(before[victim].balanceMc)
    expect(after[survivor].balanceMc - before[survivor].balanceMc).toBe(cost)
    expect((await audit(op)).ok).toBe(true)

    // The killed worker's container outlived it ...
    const victimId = ids.get(victim)!
    expect(await containers(`gridx.job=${id}`, `gridx.worker=${victimId}`)).toHaveLength(1)
    // ... until the worker comes back with the same home and name and removes it.
    const again = await grid.worker(owners[victim]!, victim, ['--slots', '1'])
    expect(again.stderr()).toContain(`removed 1 container(s) left by an earlier run: ${id}`)
    await until(
      'no container of the job',
      async () => (await containers(`gridx.job=${id}`)).length === 0,
      5000,
    )
    // Coming back does not earn it anything for the job either.
    expect((await credits(owners[victim]!)).balanceMc).toBe(before[victim].balanceMc)
    expect((await status(alice, id)).attempts).toHaveLength(2)
  })

  test('a frozen worker loses its lease; its late result after SIGCONT is refused and earns nothing', async () => {
    grid = await startGrid(FAST)
    const { op, alice, bob, carol } = await cast(grid)
    const [p1, p2] = await Promise.all([
      grid.worker(bob, 'w1', ['--slots', '1']),
      grid.worker(carol, 'w2', ['--slots', '1']),
    ])
    const procs: Record<string, Proc> = { w1: p1, w2: p2 }
    const before = { alice: await credits(alice), w1: await credits(bob), w2: await credits(carol) }

    const { sub, id } = await submitAttached(alice, ['sh', '-c', 'sleep 4; echo x'])
    const frozen = (await runningOn(alice, id)) as 'w1' | 'w2'
    const other = frozen === 'w1' ? 'w2' : 'w1'
    procs[frozen]!.proc.kill('SIGSTOP')

    expect(await exitOf(sub, 45_000)).toBe(0)
    expect(sub.stdout()).toBe('x\n')
    const settled = await status(alice, id)
    const attemptsOf = (s: typeof settled) => s.attempts.map((a) => [a.attempt, a.worker, a.outcome])
    expect(attemptsOf(settled)).toEqual([
      [1, frozen, 'lost'],
      [2, other, 'exited'],
    ])

    // Thaw it: its container ended long ago; it reconnects and resends the old attempt's result.
    const mark = procs[frozen]!.stderr().length
    procs[frozen]!.proc.kill('SIGCONT')
    const late = () => procs[frozen]!.stderr().slice(mark)
    await until(
      'the thawed worker to report its result and reconnect',
      // In either order: collecting the job's /out files can take longer than the reconnect.
      () =>
        Promise.resolve(
          new RegExp(`job ${id}: (exited|cancelled)`).test(late()) && /waiting for jobs/.test(late()),
        ),
      20_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nthe worker's log since SIGCONT:\n${late()}`)
    })
    await Bun.sleep(1000) // the resent result reaches the coordinator right after the welcome

    const st = await status(alice, id)
    expect(st.state).toBe('succeeded')
    expect(st.worker).toBe(other)
    expect(attemptsOf(st)).toEqual(attemptsOf(settled))
    const cost = st.costMc!
    expect(cost).toBeGreaterThan(0)
    expect(cost).toBe(settled.costMc!)
    // The late attempt's output was not added to the job's either.
    expect((await gridx(['logs', id], alice)).stdout).toBe('x\n')

    const after = { alice: await credits(alice), w1: await credits(bob), w2: await credits(carol) }
    expect(before.alice.balanceMc - after.alice.balanceMc).toBe(cost)
    expect(after.alice.escrowMc).toBe(0)
    expect(after[frozen].balanceMc).toBe(before[frozen].balanceMc)
    expect(after[other].balanceMc - before[other].balanceMc).toBe(cost)
    expect((await audit(op)).ok).toBe(true)
  })
})

describe('the coordinator crashes', () => {
  test('kill -9 with ~100 queued and a few running jobs: after a restart every job succeeds exactly once', async () => {
    grid = await startGrid(FAST)
    const { op, alice, bob } = await cast(grid)
    const N = 100
    // Submitted through the API (100 CLI processes would only add minutes): 1 CPU x 30 s is
    // 500 mc at most each, so all 100 fit in alice's 100 credits.
    const call = api(alice)
    const ids = (
      await Promise.all(
        Array.from({ length: N }, () =>
          call<Job>('/api/jobs', {
            image: BB_IMAGE,
            command: ['sleep', '1'],
            timeoutMs: 30_000,
            cpus: 1,
            memoryBytes: 64 << 20,
          }),
        ),
      )
    ).map((j) => j.id)
    expect(new Set(ids).size).toBe(N)
    const a0 = await credits(alice)
    const b0 = await credits(bob)
    await Promise.all([grid.worker(alice, 'w1', ['--slots', '2']), grid.worker(bob, 'w2', ['--slots', '2'])])
    const workers = await workerIds(alice)
    const health = async () =>
      (await (await fetch(`http://127.0.0.1:${grid!.httpPort}/health`)).json()) as {
        queuedJobs: number
        runningJobs: number
      }
    const h = await until('jobs to be running', async () => {
      const x = await health()
      return x.runningJobs >= 3 ? x : undefined
    })
    expect(h.queuedJobs).toBeGreaterThanOrEqual(N - 10)

    await grid.restart('SIGKILL')

    const final = await until(
      'every job to end',
      async () => {
        const list = await jobsOf(alice, 200)
        return list.every((j) => ['succeeded', 'failed', 'cancelled'].includes(j.state)) ? list : undefined
      },
      200_000,
      500,
    )
    expect(final).toHaveLength(N)
    expect(final.filter((j) => j.state !== 'succeeded')).toEqual([])

    // No job ran to completion twice: exactly one attempt ended with an exit, none is left open.
    const attempts = await Promise.all(ids.map((id) => call<Attempt[]>(`/api/jobs/${id}/attempts`)))
    const notOnce = ids.filter((_, i) => attempts[i]!.filter((a) => a.outcome === 'exited').length !== 1)
    expect(notOnce).toEqual([])
    expect(attempts.flat().filter((a) => a.outcome === null)).toEqual([])

    // Alice paid bob exactly for the jobs his worker finished (hers on her own worker net zero).
    const onBob = final.filter((j) => j.worker === 'w2').reduce((n, j) => n + j.costMc!, 0)
    const a1 = await credits(alice)
    const b1 = await credits(bob)
    expect(a1.escrowMc).toBe(0)
    expect(a0.balanceMc + a0.escrowMc - a1.balanceMc).toBe(onBob)
    expect(b1.balanceMc - b0.balanceMc).toBe(onBob)
    expect((await audit(op)).ok).toBe(true)

    // Nothing is left behind in Docker by either worker.
    for (const w of ['w1', 'w2']) {
      await until(
        `no container left by ${w}`,
        async () => (await containers(`gridx.worker=${workers.get(w)!}`)).length === 0,
        5000,
      )
    }
  }, 240_000) // 100 containers on 4 slots: about a minute, several on a machine busy with other Docker work

  // BUG (src/coordinator/server.ts, startCoordinator): lease expiry times are absolute, so after
  // an outage longer than the lease the first sweep expires every lease before the workers are
  // back, and work they finished meanwhile is thrown away and run again. Flip to test() once fixed.
  test('a coordinator down longer than the lease: jobs that finished meanwhile are not run again', async () => {
    grid = await startGrid(FAST)
    const alice = await grid.user('alice')
    const w = await grid.worker(alice, 'w1', ['--slots', '2'])
    const ids = await Promise.all([0, 1].map(() => submitDetached(alice, ['sh', '-c', 'sleep 1; echo ok'])))
    for (const id of ids) await runningOn(alice, id)
    await grid.restart('SIGKILL', async () => {
      // Both jobs end while the coordinator is away; the worker is slow to come back (a long
      // reconnect backoff, made deterministic with SIGSTOP) and the outage outlasts the 3 s lease.
      for (const id of ids) await w.waitFor(new RegExp(`job ${id}: exited`))
      w.proc.kill('SIGSTOP')
      await Bun.sleep(3500)
    })
    await Bun.sleep(2000) // back within one lease of the restart (after its first sweep)
    w.proc.kill('SIGCONT')
    for (const id of ids) {
      const st = await until(`job ${id} to end`, async () => {
        const s = await status(alice, id)
        return s.state === 'succeeded' ? s : undefined
      })
      expect(st.attempts.map((a) => [a.attempt, a.worker, a.outcome])).toEqual([[1, 'w1', 'exited']])
    }
    expect(w.stderr()).not.toMatch(/job \S+ \(attempt 2\)/)
  })
})

describe('scheduling order', () => {
  test("fair share: a user's 5 jobs all start before 40 of another user's 60 earlier jobs", async () => {
    grid = await startGrid(FAST)
    const [a, b, carol] = await Promise.all([grid.user('usera'), grid.user('userb'), grid.user('carol')])
    // A's 60 jobs are all queued before the worker connects, so how fast they were submitted
    // does not matter; B submits once A's jobs occupy both slots.
    const aIds = await pool(60, 10, () => submitDetached(a, ['sleep', '0.3']))
    await grid.worker(carol, 'w', ['--slots', '2'])
    await until(
      "two of A's jobs to run",
      async () => (await jobsOf(a, 100)).filter((j) => j.startedAt).length >= 2,
    )
    const bIds = await pool(5, 5, () => submitDetached(b, ['sleep', '0.3']))
    const bJobs = await until(
      "all of B's jobs to start",
      async () => {
        const list = await jobsOf(b, 10)
        return list.every((j) => j.startedAt !== null) ? list : undefined
      },
      60_000,
    )
    expect(bJobs.map((j) => j.id).sort()).toEqual([...bIds].sort())
    const lastB = Math.max(...bJobs.map((j) => ms(j.startedAt)))
    const aJobs = await jobsOf(a, 100)
    expect(aJobs.map((j) => j.id).sort()).toEqual([...aIds].sort())
    // First come, first served would start all 60 of A's first.
    const aBefore = aJobs.filter((j) => ms(j.startedAt) <= lastB).length
    expect(aBefore).toBeLessThanOrEqual(20)
  })

  test('--priority: queued jobs start highest first once a worker connects', async () => {
    grid = await startGrid(FAST)
    const alice = await grid.user('alice')
    const byPriority = new Map<number, string>()
    // Submitted lowest first, so oldest-first order would be the reverse of the expected one.
    for (const p of [0, 5, 10])
      byPriority.set(p, await submitDetached(alice, ['true'], ['--priority', String(p)]))
    const waiting = await status(alice, byPriority.get(0)!)
    expect(waiting.state).toBe('queued')
    expect(waiting.priority).toBe(0)
    expect(waiting.waiting).toMatch(/no worker is connected/)
    await grid.worker(alice, 'w', ['--slots', '1'])
    const jobs = await until('all three to end', async () => {
      const list = await jobsOf(alice, 3)
      return list.every((j) => j.state === 'succeeded') ? list : undefined
    })
    const job = (p: number) => jobs.find((j) => j.id === byPriority.get(p))!
    expect(ms(job(10).startedAt)).toBeLessThan(ms(job(5).startedAt))
    expect(ms(job(5).startedAt)).toBeLessThan(ms(job(0).startedAt))
    // One slot: each started after the one before it had finished.
    expect(ms(job(5).startedAt)).toBeGreaterThanOrEqual(ms(job(10).finishedAt))
    expect(ms(job(0).startedAt)).toBeGreaterThanOrEqual(ms(job(5).finishedAt))
  })
})

describe('cancel and drain', () => {
  test('cancelling a running job removes its container within 5 s and settles its credits once', async () => {
    grid = await startGrid(FAST)
    const { op, alice, bob } = await cast(grid)
    const w = await grid.worker(bob, 'w', ['--slots', '1'])
    const a0 = await credits(alice)
    const b0 = await credits(bob)
    const id = await submitDetached(alice, ['sleep', '30'])
    await runningOn(alice, id)
    expect(await containers(`gridx.job=${id}`)).toHaveLength(1)
    await Bun.sleep(1200) // let it use some compute

    const c = await gridx(['cancel', id], alice)
    const t0 = Date.now()
    expect(c.code).toBe(0)
    expect(c.stderr).toContain(`job ${id} cancelled`)
    await until(
      'the container to go',
      async () => (await containers(`gridx.job=${id}`)).length === 0,
      5000,
      100,
    )
    expect(Date.now() - t0).toBeLessThan(5000)

    const st = await status(alice, id)
    expect(st.state).toBe('cancelled')
    expect(st.attempts).toHaveLength(1)
    expect(st.attempts[0]).toMatchObject({ attempt: 1, worker: 'w', outcome: 'cancelled' })
    const cost = st.costMc!
    expect(cost).toBeGreaterThan(0)
    expect(cost).toBeLessThan(st.maxCostMc)
    // The worker's own report of the kill comes afterwards: it must not settle a second time.
    await w.waitFor(new RegExp(`job ${id}: cancelled`), 5000)
    await Bun.sleep(500)
    const a1 = await credits(alice)
    const b1 = await credits(bob)
    expect(a1.escrowMc).toBe(0)
    expect(a0.balanceMc - a1.balanceMc).toBe(cost)
    expect(b1.balanceMc - b0.balanceMc).toBe(cost)
    expect((await status(alice, id)).costMc).toBe(cost)
    expect((await audit(op)).ok).toBe(true)
  })

  test('SIGTERM drains: the running job finishes with its output, no new job is taken, then the worker exits 0', async () => {
    grid = await startGrid(FAST)
    const [alice, bob] = await Promise.all([grid.user('alice'), grid.user('bob')])
    const w = await grid.worker(bob, 'w1', ['--slots', '1'])
    const ids = await workerIds(alice)
    const { sub, id } = await submitAttached(alice, ['sh', '-c', 'echo start; sleep 2; echo end'])
    await runningOn(alice, id)

    w.proc.kill('SIGTERM')
    await w.waitFor(/draining: 1 running job\(s\) will finish first/)
    await grid.serve.waitFor(/worker w1 is draining: no new jobs for it/)
    const later = await submitDetached(alice, ['echo', 'later'])
    const meanwhile = await status(alice, later)
    expect(meanwhile.state).toBe('queued')
    expect(meanwhile.waiting).toMatch(/no worker is connected|every connected worker is draining/)

    expect(await exitOf(sub)).toBe(0)
    expect(sub.stdout()).toBe('start\nend\n')
    const st = await status(alice, id)
    expect(st.state).toBe('succeeded')
    expect(st.attempts.map((a) => [a.attempt, a.worker, a.outcome])).toEqual([[1, 'w1', 'exited']])

    // Once its job has ended the worker stops by itself, cleanly.
    expect(await exitOf(w, 15_000)).toBe(0)
    // The job submitted during the drain was never offered to the draining worker.
    const q = await status(alice, later)
    expect(q.state).toBe('queued')
    expect(q.attempts).toEqual([])
    expect(q.waiting).toMatch(/no worker is connected/)
    expect(w.stderr()).not.toContain(later)
    // and the stopped worker left no container behind
    await until(
      'no container of w1',
      async () => (await containers(`gridx.worker=${ids.get('w1')!}`)).length === 0,
      5000,
    )
  })

  test('SIGTERM twice hands the running job back; it completes on a worker that connects later', async () => {
    grid = await startGrid(FAST)
    const { op, alice, bob, carol } = await cast(grid)
    const w1 = await grid.worker(bob, 'w1', ['--slots', '1'])
    const ids = await workerIds(alice)
    const a0 = await credits(alice)
    const b0 = await credits(bob)
    const { sub, id } = await submitAttached(alice, ['sh', '-c', 'sleep 3; echo done'])
    await runningOn(alice, id)

    w1.proc.kill('SIGTERM')
    await w1.waitFor(/draining: 1 running job\(s\) will finish first/)
    w1.proc.kill('SIGTERM')
    await w1.waitFor(/handing 1 running job\(s\) back to the queue/)
    expect(await exitOf(w1, 15_000)).toBe(0)

    const back = await until('the job to be queued again', async () => {
      const s = await status(alice, id)
      return s.state === 'queued' ? s : undefined
    })
    expect(back.attempts.map((a) => [a.attempt, a.worker, a.outcome])).toEqual([[1, 'w1', 'released']])
    expect(back.waiting).toMatch(/no worker is connected/)
    // The stopped worker left no container behind.
    await until(
      'no container of w1',
      async () => (await containers(`gridx.worker=${ids.get('w1')!}`)).length === 0,
      5000,
    )

    await grid.worker(carol, 'w2', ['--slots', '1'])
    expect(await exitOf(sub)).toBe(0)
    expect(sub.stdout()).toBe('done\n')
    const st = await status(alice, id)
    expect(st.state).toBe('succeeded')
    expect(st.attempts.map((a) => [a.attempt, a.worker, a.outcome])).toEqual([
      [1, 'w1', 'released'],
      [2, 'w2', 'exited'],
    ])
    // Paid once, to the worker that finished it.
    const cost = st.costMc!
    expect(cost).toBeGreaterThan(0)
    expect(a0.balanceMc - (await credits(alice)).balanceMc).toBe(cost)
    expect((await credits(bob)).balanceMc).toBe(b0.balanceMc)
    expect((await audit(op)).ok).toBe(true)
  })
})
