import type { SeenWorker, WorkerTotals } from '../../coordinator/store'
import type { WebDeps } from '../env'

/** How far back workers no longer connected are still listed. */
export const GONE_LISTED_MS = 7 * 86_400_000
/** Least time between two readings of the workers' totals, however many people look. */
export const WORKERS_REFRESH_MS = 5_000

/** What the workers page reads from the store: each worker's totals and those seen lately. */
export interface WorkersReading {
  totals: Map<string, WorkerTotals>
  seen: SeenWorker[]
}

/**
 * One reading of the workers' totals (a GROUP BY over every ended job) and the workers seen in
 * the last week, shared by every viewer and read again at most every `WORKERS_REFRESH_MS`: a
 * page reloaded by many people costs the store one reading per few seconds, not one per view.
 */
export function workersReading(deps: WebDeps): () => Promise<WorkersReading> {
  let last: { at: number; reading: Promise<WorkersReading> } | undefined
  return () => {
    const now = deps.clock.now()
    if (last && now - last.at < WORKERS_REFRESH_MS) return last.reading
    const reading = Promise.all([
      deps.store.stats.workerTotals(),
      deps.store.stats.workersSeen(now - GONE_LISTED_MS),
    ]).then(([totals, seen]) => ({ totals, seen }))
    const mine = (last = { at: now, reading })
    // A failed reading is not kept: the next view tries again.
    reading.catch(() => {
      if (last === mine) last = undefined
    })
    return reading
  }
}
