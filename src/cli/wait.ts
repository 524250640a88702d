import type { ApiClient } from '../client/api'
import { GridError } from '../errors'
import { isFinal, type JobView } from '../protocol/api'
import { parseDuration } from '../protocol/units'
import { WAIT_TIMEOUT_EXIT } from './exit-codes'
import { note, out, outPainted } from './options'
import { exitCodeOf, safe } from './render'
import { loggedIn } from './session'
import { paintState } from './style'

/** The flags of `gridx wait`. */
export type WaitFlags = {
  coordinator?: string
  httpPort?: number
  wsPort?: number
  json?: boolean
  ids?: string[]
  timeout?: string
}

/** Most ids one `gridx wait` follows (each is asked about at every check). */
const MAX_IDS = 1000

/** The first and the longest pause between checks: quick for short jobs, a few requests a minute for long ones. */
const FIRST_PAUSE_MS = 500
const LONGEST_PAUSE_MS = 5000

/** How long a job ran (or has run), from its times; undefined before it started. */
function ranMs(job: JobView, now: number): number | undefined {
  if (job.startedAt === null) return undefined
  const end = job.finishedAt === null ? now : Date.parse(job.finishedAt)
  return Math.max(0, end - Date.parse(job.startedAt))
}

/** One line of the summary: id, name, state, exit code, duration. */
function summaryLine(job: JobView, now: number): string[] {
  const ran = ranMs(job, now)
  return [
    job.id,
    safe(job.name ?? '-'),
    job.state,
    job.exitCode === null ? '-' : String(job.exitCode),
    ran === undefined ? '-' : `${(ran / 1000).toFixed(1)}s`,
  ]
}

/**
 * Blocks until every job has ended, asking the coordinator again after pauses that grow from
 * FIRST_PAUSE_MS to LONGEST_PAUSE_MS (a finished job is not asked about again). Returns the jobs
 * as last seen, and whether all ended before `deadline`.
 */
export async function waitFor(
  api: ApiClient,
  ids: readonly string[],
  deadline: number,
  sleep: (ms: number) => Promise<void> = (ms) => Bun.sleep(ms),
): Promise<{ jobs: JobView[]; ended: boolean }> {
  // Resolved once (ids may be prefixes): an unknown or ambiguous one stops the command here.
  const jobs = await Promise.all(ids.map((id) => api.job(id)))
  let pause = FIRST_PAUSE_MS
  for (;;) {
    const pending = jobs.map((j, i) => [j, i] as const).filter(([j]) => !isFinal(j.state))
    if (pending.length === 0) return { jobs, ended: true }
    const left = deadline - Date.now()
    if (left <= 0) return { jobs, ended: false }
    await sleep(Math.min(pause, left))
    pause = Math.min(LONGEST_PAUSE_MS, Math.round(pause * 1.5))
    for (const [j, i] of pending) jobs[i] = await api.job(j.id)
  }
}

/**
 * `gridx wait ID...`: waits for the jobs to end and prints one line each. Exits 0 when all
 * succeeded, else with the exit code of the first (in the order given) that did not (as
 * `gridx submit` would: 124 timed out, 125 did not run, 130 cancelled, 137 out of memory), or
 * WAIT_TIMEOUT_EXIT when --timeout passed first.
 */
export async function wait(flags: WaitFlags): Promise<number> {
  const ids = flags.ids ?? []
  if (ids.length === 0) throw new GridError('usage', 'name at least one job: gridx wait ID [ID...]')
  if (ids.length > MAX_IDS) throw new GridError('usage', `gridx wait follows at most ${MAX_IDS} jobs at once`)
  const timeoutMs = flags.timeout === undefined ? Infinity : parseDuration(flags.timeout, '--timeout')
  const { api } = loggedIn(flags)
  const { jobs, ended } = await waitFor(api, ids, Date.now() + timeoutMs)
  const failed = jobs.find((j) => isFinal(j.state) && j.state !== 'succeeded')
  const code = !ended ? WAIT_TIMEOUT_EXIT : failed ? exitCodeOf(failed) : 0
  if (flags.json) {
    out(JSON.stringify({ ended, exitCode: code, jobs }))
    return code
  }
  const now = Date.now()
  const rows = jobs.map((j) => summaryLine(j, now))
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c]!.length)))
  rows.forEach((r, i) => {
    const state = jobs[i]!.state
    const cells = r.map((cell, c) => (c < 4 ? cell.padEnd(widths[c]!) : cell))
    cells[2] = paintState(state) + ' '.repeat(widths[2]! - state.length)
    outPainted(cells.join('  '))
  })
  if (!ended) {
    const still = jobs.filter((j) => !isFinal(j.state)).length
    note(`gridx: --timeout ${flags.timeout} passed with ${still} job(s) not ended`)
  }
  return code
}
