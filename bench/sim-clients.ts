// The submitting API clients of a dispatch run in a process of their own (bench/child.ts). On
// 'start', 'burst' submits `jobs` jobs over `clients` concurrent connections (job i belongs to
// user i mod users, client c talks to coordinator c mod coordinators) and reports when it is done;
// 'trickle' submits `ratePerSecond` jobs a second until 'stop'. Either reports each submission's
// latency and the ids with their user.
import { childSide, wallNow } from './child'
import { JOB, postJson } from './dispatch-grid'

/** How the clients submit. */
export interface ClientsConfig {
  https: string[]
  /** The users' tokens. */
  tokens: string[]
  mode: 'burst' | 'trickle'
  jobs: number
  clients: number
  ratePerSecond: number
}

/** What the clients did: ids as [id, user index], latencies in ms, first request sent, last answered. */
export interface ClientsReport {
  type: 'done'
  ids: [string, number][]
  latencies: number[]
  first: number
  last: number
  /** Submissions that failed (the first 20 in `errors`). */
  failed: number
  errors: string[]
}

async function submit(http: string, token: string, report: ClientsReport, user: number): Promise<void> {
  const t0 = wallNow()
  if (!Number.isFinite(report.first)) report.first = t0
  try {
    const job = (await postJson(`${http}/api/jobs`, JOB, token)) as { id: string }
    report.ids.push([job.id, user])
  } catch (err) {
    report.failed++
    if (report.errors.length < 20) report.errors.push(String(err))
  }
  const t1 = wallNow()
  report.latencies.push(t1 - t0)
  report.last = Math.max(report.last, t1)
}

if (import.meta.main) {
  const { config: c, send, next } = childSide<ClientsConfig>()
  const report: ClientsReport = {
    type: 'done',
    ids: [],
    latencies: [],
    failed: 0,
    first: Number.NaN,
    last: 0,
    errors: [],
  }
  // One request first, so the connections' set-up is not what the burst measures.
  await fetch(`${c.https[0]}/health`).then((r) => r.arrayBuffer())
  send({ type: 'ready' })
  await next('start')
  if (c.mode === 'burst') {
    let i = 0
    const lane = async (l: number) => {
      for (let n = i++; n < c.jobs; n = i++) {
        const user = n % c.tokens.length
        await submit(c.https[l % c.https.length]!, c.tokens[user]!, report, user)
      }
    }
    await Promise.all(Array.from({ length: c.clients }, (_, l) => lane(l)))
  } else {
    let n = 0
    let stopping = false
    const inFlight = new Set<Promise<void>>()
    void next('stop').then(() => (stopping = true))
    const start = wallNow()
    while (!stopping) {
      const due = Math.floor(((wallNow() - start) / 1000) * c.ratePerSecond)
      while (n < due) {
        const user = n % c.tokens.length
        const p = submit(c.https[n % c.https.length]!, c.tokens[user]!, report, user)
        inFlight.add(p)
        void p.finally(() => inFlight.delete(p))
        n++
      }
      await Bun.sleep(5)
    }
    await Promise.all(inFlight)
  }
  send(report)
  await next('exit')
}
