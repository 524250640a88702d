// Failover of dispatch: three coordinators on one PostgreSQL, simulated workers spread over them
// (each with the whole list, moving to the next on a close like the real agent); one coordinator
// is killed with SIGKILL mid-run. Measures kill -> first job.assign to a worker that was on it,
// and kill -> throughput back to what it was.
import type { BenchCoordinator } from './dispatch-grid'
import { type DispatchShape, measureDispatch, type Run } from './dispatch-measure'

/** What the failover run measured (milliseconds after the kill). */
export interface FailoverResult {
  jobs: number
  done: number
  /** Which coordinator was killed (index in start order), and after how many jobs were done. */
  killed: number
  killedAfterJobs: number
  /** Workers on the killed coordinator at the kill. */
  movedWorkers: number
  /** Jobs/s in the second before the kill. */
  rateBefore: number
  /** Kill -> first job.assign to any worker; to one that was on the killed coordinator. */
  firstAssignAnyMs: number
  firstAssignMovedMs: number
  /** Kill -> the first 500 ms window with at least 80% of `rateBefore`. */
  recoveredMs: number
  /** Jobs/s from recovery to the end. */
  rateAfter: number
  /** Kill -> last job acknowledged. */
  lastAckMs: number
  /** Kill -> another coordinator logs that it runs the sweeps (when the killed one held them). */
  sweepTakeoverMs: number
  errors: string[]
}

const WINDOW_MS = 500

/** The line a coordinator logs when it takes over the sweeps (src/coordinator/server.ts). */
const SWEEPS = /^(\S+Z) this coordinator runs the sweeps now/

/** Runs the failover measurement on three coordinators of one grid; kills `coords[victim]`. */
export async function failover(
  coords: BenchCoordinator[],
  postmasterPid: number,
  shape: DispatchShape,
  victim: number,
  log: (line: string) => void,
): Promise<FailoverResult> {
  let killAt = Number.NaN
  let killWall = Number.NaN
  let killedAfter = 0
  let moved: Set<unknown> = new Set()
  const during = async (run: Run) => {
    // Kill once a third of the jobs is done, so the grid runs at its pace before and after.
    while (run.acks.length < shape.jobs / 3) await Bun.sleep(5)
    moved = new Set(run.workers.filter((w) => w.at === victim))
    killedAfter = run.acks.length
    coords[victim]!.proc.kill('SIGKILL')
    killAt = performance.now()
    killWall = Date.now()
    log(
      `    killed coordinator ${victim + 1} (kill -9) after ${killedAfter} jobs; ${moved.size} workers were on it`,
    )
  }
  const r = await measureDispatch('failover', coords, postmasterPid, shape, log, { during })
  const { run } = r
  const after = (t: number) => t - killAt
  const assignsAfter = run.assigns.filter((a) => a.t > killAt)
  const firstMoved = assignsAfter.find((a) => moved.has(a.worker))
  const rateBefore = rate(run.acks, killAt - 1000, killAt)
  let recovered = Number.NaN
  for (let t = killAt; t < (run.acks.at(-1) ?? killAt); t += 50) {
    if (rate(run.acks, t, t + WINDOW_MS) >= 0.8 * rateBefore) {
      recovered = t + WINDOW_MS
      break
    }
  }
  const lastAck = run.acks.at(-1) ?? Number.NaN
  const takeover = coords
    .flatMap((c) => c.proc.lines.map((l) => SWEEPS.exec(l.text)?.[1]))
    .map((iso) => (iso ? Date.parse(iso) : Number.NaN))
    .filter((t) => t > killWall)
    .sort((a, b) => a - b)[0]
  return {
    jobs: r.jobs,
    done: r.done,
    killed: victim,
    killedAfterJobs: killedAfter,
    movedWorkers: moved.size,
    rateBefore,
    firstAssignAnyMs: assignsAfter[0] ? after(assignsAfter[0].t) : Number.NaN,
    firstAssignMovedMs: firstMoved ? after(firstMoved.t) : Number.NaN,
    recoveredMs: after(recovered),
    rateAfter: Number.isFinite(recovered) ? rate(run.acks, recovered, lastAck) : Number.NaN,
    lastAckMs: after(lastAck),
    sweepTakeoverMs: takeover === undefined ? Number.NaN : takeover - killWall,
    errors: r.errors,
  }
}

/** Acknowledgements per second in [from, to). */
function rate(acks: number[], from: number, to: number): number {
  if (!(to > from)) return Number.NaN
  return acks.filter((t) => t >= from && t < to).length / ((to - from) / 1000)
}
