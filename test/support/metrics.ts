import { expect } from 'bun:test'
import type { RawWorker, TestCoordinator } from './coordinator'
import { signedResult, type TestWorker } from './worker-keys'

/** A scrape of `/metrics` with this bearer token (none: no header). */
export function scrape(t: TestCoordinator, token?: string): Promise<Response> {
  return fetch(`${t.base}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {})
}

/** The value of one series in a scrape's text (`name` or `name{labels}` exactly as written), or undefined. */
export function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1))
  }
  return undefined
}

/** Runs `n` jobs as alice through a connected one-slot raw worker: assign, start, signed result, ack. */
export async function runJobs(
  t: TestCoordinator,
  w: RawWorker,
  worker: TestWorker,
  n: number,
): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < n; i++) {
    const id = await t.submit()
    const assign = await w.next('job.assign', 15_000)
    expect(assign.job.jobId).toBe(id)
    const lease = { jobId: id, attempt: assign.job.attempt }
    w.send({ type: 'job.started', lease })
    w.send(signedResult(worker, lease, { durationMs: 200 }))
    await w.next('job.ack', 15_000)
    ids.push(id)
  }
  return ids
}
