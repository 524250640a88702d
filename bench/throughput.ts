import { type Job, OutputLine } from './schemas'
import type { BenchGrid } from './grid'
import { pool, run } from './proc'
import { type CpuMeter, workerJobs } from './profile'
import { quantile } from './stats'
import { DOCKER_RUN, IMAGE, SCRIPT, SUBMIT_FLAGS } from './workload'

/** One side of the throughput comparison. */
export interface Throughput {
  jobs: number
  failures: number
  /** First submission to last job final, milliseconds. */
  wallMs: number
  /** CPU milliseconds used meanwhile, per process group (see CpuMeter). */
  cpuMs: Record<string, number>
  /** Grid-X only: where the time went. */
  detail?: Record<string, number>
  errors: string[]
}

/** How jobs reach the coordinator: one `gridx submit --detach` process each, or straight HTTP. */
export type Submitter = 'cli' | 'api'

/** Submits `n` jobs at once (`parallel` submitters) and waits until every one is final. */
export async function gridxThroughput(
  grid: BenchGrid,
  script: string,
  n: number,
  parallel: number,
  via: Submitter,
  cpu: CpuMeter,
  progress: (line: string) => void,
): Promise<Throughput> {
  const errors: string[] = []
  const ids = new Set<string>()
  const before = cpu.snapshot()
  const t0 = Date.now()
  let submitted = 0
  let submitEnd = t0
  const submitting = pool(Array.from({ length: n }), parallel, async () => {
    try {
      if (via === 'api') {
        ids.add((await grid.post(apiBody())).id)
      } else {
        const r = await grid.gridx(['submit', '--detach', ...SUBMIT_FLAGS, script], { timeoutMs: 60_000 })
        const id = r.stdout.trim()
        if (r.code === 0 && /^\w+$/.test(id)) ids.add(id)
        else errors.push(`submit exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`)
      }
    } catch (err) {
      errors.push(`submit failed: ${String(err)}`)
    }
    submitted++
    submitEnd = Date.now()
  })
  let done = false
  void submitting.then(() => (done = true))
  const deadline = t0 + Math.max(120_000, n * 5_000)
  let lastReport = 0
  for (;;) {
    // Polls /health (two counts) rather than the job list: listing queued jobs is costly for the
    // coordinator and would put the bench's own load into the measurement. The end time comes
    // from the jobs' own finishedAt, so the poll interval costs no precision.
    await Bun.sleep(250)
    const h = await grid.health()
    const left = h.queuedJobs + h.runningJobs
    if (Date.now() - lastReport > 5000) {
      lastReport = Date.now()
      progress(
        `  ${Math.round((Date.now() - t0) / 1000)} s: ${submitted}/${n} submitted, ${h.queuedJobs} queued, ${h.runningJobs} running`,
      )
    }
    if (done && left === 0) break
    if (Date.now() > deadline) {
      errors.push(`gave up after ${Math.round((Date.now() - t0) / 1000)} s: ${left} job(s) not final`)
      break
    }
  }
  const observedEnd = Date.now()
  const cpuMs = cpu.since(before)
  const mine = (await grid.jobs(ids.size + 10)).filter((j) => ids.has(j.id))
  const finishedAt = mine.flatMap((j) => (j.finishedAt ? [Date.parse(j.finishedAt)] : []))
  const end = finishedAt.length === ids.size && ids.size > 0 ? Math.max(...finishedAt) : observedEnd
  for (const j of mine) {
    if (j.state !== 'succeeded' || j.exitCode !== 0)
      errors.push(`job ${j.id}: ${j.state} (exit ${j.exitCode}) ${j.error ?? ''}`.trim())
  }
  errors.push(
    ...(await checkOutputs(
      grid,
      mine.filter((j) => j.state === 'succeeded'),
    )),
  )
  const failures = n - mine.filter((j) => j.state === 'succeeded').length + countOutputErrors(errors)
  return {
    jobs: n,
    failures: Math.min(n, failures),
    wallMs: end - t0,
    cpuMs,
    detail: detail(grid, mine, t0, submitEnd, end),
    errors,
  }
}

function apiBody() {
  return {
    image: IMAGE,
    script: { name: 'job.py', contentBase64: Buffer.from(SCRIPT).toString('base64') },
    args: [],
    timeoutMs: 600_000,
    cpus: 1,
    memoryBytes: 512 * 1024 * 1024,
  }
}

const OUTPUT_MISMATCH = 'output mismatch'

function countOutputErrors(errors: string[]): number {
  return errors.filter((e) => e.includes(OUTPUT_MISMATCH)).length
}

/** Reads back every job's stored output and checks it is exactly the script's. */
async function checkOutputs(grid: BenchGrid, jobs: Job[]): Promise<string[]> {
  const errors: string[] = []
  await pool(jobs, 8, async (j) => {
    const text = await grid.raw(`/api/jobs/${j.id}/output`)
    let out = ''
    for (const line of text.split('\n').filter(Boolean)) {
      const e = OutputLine.parse(JSON.parse(line))
      if (e.type === 'output' && e.stream === 'stdout') out += Buffer.from(e.data ?? '', 'base64').toString()
    }
    if (out !== 'ok\n') errors.push(`job ${j.id}: ${OUTPUT_MISMATCH}: ${JSON.stringify(out)}`)
  })
  return errors
}

/** Where the Grid-X wall time went, from job rows and the worker's log. */
function detail(grid: BenchGrid, jobs: Job[], t0: number, submitEnd: number, end: number) {
  const slots = grid.slots
  const wlog = workerJobs(grid.worker?.lines ?? [])
  const created = jobs.map((j) => Date.parse(j.createdAt))
  const mine = jobs
    .map((j) => wlog.get(j.id))
    .filter((w) => w?.assigned !== undefined && w.result !== undefined)
  const assigns = mine.map((w) => w!.assigned!).sort((a, b) => a - b)
  const results = mine.map((w) => w!.result!).sort((a, b) => a - b)
  // The k-th assignment after the first `slots` took the slot freed by the (k - slots)-th result.
  const gaps = assigns.slice(slots).map((a, k) => a - results[k]!)
  const onWorker = mine.map((w) => w!.result! - w!.assigned!)
  const busy = onWorker.reduce((a, b) => a + b, 0)
  const span = results.length ? results.at(-1)! - assigns[0]! : Number.NaN
  const queueWait = jobs.flatMap((j) => {
    const a = wlog.get(j.id)?.assigned
    return a === undefined ? [] : [a - Date.parse(j.createdAt)]
  })
  return {
    'submissions done (s after start)': (submitEnd - t0) / 1000,
    'last job stored (s after start)': created.length ? (Math.max(...created) - t0) / 1000 : Number.NaN,
    'first job on worker (s after start)': assigns.length ? (assigns[0]! - t0) / 1000 : Number.NaN,
    'worker time per job, median (ms)': quantile(onWorker, 0.5),
    'worker time per job, p90 (ms)': quantile(onWorker, 0.9),
    'slot idle between jobs, median (ms)': quantile(gaps, 0.5),
    'slot busy fraction (first assign..last result)': busy / (slots * span),
    'last result -> all final observed (ms)': end - (results.at(-1) ?? end),
    'queue wait, median (s)': quantile(queueWait, 0.5) / 1000,
  }
}

/** The same `n` jobs through `xargs -P<parallel> docker run --rm ...`. */
export async function dockerThroughput(n: number, parallel: number, cpu: CpuMeter): Promise<Throughput> {
  const before = cpu.snapshot()
  const lines = Array.from({ length: n }, (_, i) => String(i + 1)).join('\n')
  const r = await run(['xargs', `-P${parallel}`, '-I{}', ...DOCKER_RUN], {
    stdin: `${lines}\n`,
    timeoutMs: Math.max(300_000, n * 10_000),
  })
  const cpuMs = cpu.since(before)
  const ok = r.stdout.split('\n').filter((l) => l === 'ok').length
  const errors = r.code === 0 ? [] : [`xargs exited ${r.code}: ${r.stderr.trim().slice(0, 2000)}`]
  return { jobs: n, failures: n - ok, wallMs: r.ms, cpuMs, errors }
}
