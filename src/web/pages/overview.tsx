import { Hono } from 'hono'
import { streamSSE } from 'hono/streaming'
import type { UserRow } from '../../coordinator/store'
import { InFlight, TooManyOpen } from '../../coordinator/user-caps'
import { ThroughputChart } from '../chart'
import type { WebDeps, WebEnv } from '../env'
import { credits } from '../format'
import { Page } from '../layout'
import { holdStream, liveHeaders, onStreamError } from '../live-stream'
import { OverviewFeed, type OverviewFigures, readFigures } from '../live/overview-feed'

/** How often a quiet event stream sends a comment, so proxies and browsers keep it open. */
const KEEPALIVE_MS = 15_000

/** What one overview event carries: `data-field` names to text, and the chart's bars. */
type LiveFigures = Record<string, string | number[]>

/**
 * The escrow a user is shown: the whole grid's to an operator (as the API's audit does), their
 * own to everyone else (as `GET /api/credits` does).
 */
async function escrowFor(deps: WebDeps, user: UserRow, f: OverviewFigures): Promise<number> {
  return user.isAdmin ? f.escrowMc : (await deps.store.credits.of(user.id, 1)).escrow
}

/**
 * A user's escrow for one reading of the feed, read once however many streams that user has open
 * (up to `maxFollowsPerUser`): the streams of one reading share the promise. Keyed by the reading
 * itself, so a reading's reads go when the reading does (the feed keeps only the latest).
 */
function sharedEscrow(deps: WebDeps): (user: UserRow, f: OverviewFigures) => Promise<number> {
  const byReading = new WeakMap<OverviewFigures, Map<string, Promise<number>>>()
  return (user, f) => {
    if (user.isAdmin) return Promise.resolve(f.escrowMc)
    let users = byReading.get(f)
    if (!users) byReading.set(f, (users = new Map<string, Promise<number>>()))
    let escrow = users.get(user.id)
    if (!escrow) users.set(user.id, (escrow = escrowFor(deps, user, f)))
    return escrow
  }
}

function live(f: OverviewFigures, escrowMc: number): LiveFigures {
  return {
    workers: String(f.workers),
    slots: String(f.slots),
    busy: String(f.busy),
    free: String(f.free),
    queued: String(f.queued),
    running: String(f.running),
    finished: String(f.finished),
    failed: String(f.failed),
    escrow: credits(escrowMc),
    throughput: f.throughput,
  }
}

function Card(props: { field: string; label: string; value: string }) {
  return (
    <div class="card">
      <div class="n" data-field={props.field}>
        {props.value}
      </div>
      <div class="l">{props.label}</div>
    </div>
  )
}

/** The overview: the grid now (workers, slots, jobs, escrow) and the last hour's throughput, live. */
export function overviewPages(deps: WebDeps): Hono<WebEnv> {
  const feed = new OverviewFeed(deps)
  const streams = new InFlight()
  const escrowOf = sharedEscrow(deps)
  const app = new Hono<WebEnv>()

  app.get('/', async (c) => {
    const user = c.get('user')
    const f = await readFigures(deps)
    const v = live(f, await escrowFor(deps, user, f))
    const text = (k: string) => String(v[k])
    return c.html(
      <Page title="Overview" user={user} csrf={c.get('csrf')} section="overview" scripts={['chart.js']}>
        <section data-live="/live/overview" aria-labelledby="now-heading">
          <h2 id="now-heading">The grid now</h2>
          <div class="cards">
            <Card field="workers" label="workers online" value={text('workers')} />
            <Card field="busy" label="slots busy" value={text('busy')} />
            <Card field="free" label="slots free" value={text('free')} />
            <Card field="queued" label="jobs queued" value={text('queued')} />
            <Card field="running" label="jobs running" value={text('running')} />
            <Card field="finished" label="jobs finished, last hour" value={text('finished')} />
            <Card field="failed" label="jobs failed, last hour" value={text('failed')} />
            <Card
              field="escrow"
              label={user.isAdmin ? 'credits in escrow (whole grid)' : 'your credits in escrow'}
              value={text('escrow')}
            />
          </div>
          <h2 id="chart-heading">Throughput, last hour</h2>
          <figure class="chart-box" aria-labelledby="chart-heading">
            <ThroughputChart perMinute={f.throughput} />
          </figure>
          <p class="muted">
            Updates by itself every few seconds. See the <a href="/workers">workers</a> and the{' '}
            <a href="/jobs">jobs</a>.
          </p>
        </section>
      </Page>,
    )
  })

  // Server-sent events: the overview's figures at once, then on every change (every few seconds).
  app.get('/live/overview', (c) => {
    const user = c.get('user')
    const release = streams.take(
      `live:${user.id}`,
      deps.settings.maxFollowsPerUser,
      (open) =>
        new TooManyOpen(
          `you have ${open} live pages open already, the most this coordinator allows at once: close some tabs and try again`,
        ),
    )
    // Open as long as the page is: exempt from the idle timeout, with a keepalive instead.
    const restore = holdStream(deps, c.req.raw)
    const res = streamSSE(
      c,
      async (out) => {
        let wake: () => void = () => undefined
        let pending: OverviewFigures | undefined
        const unsubscribe = feed.subscribe((f) => {
          pending = f
          wake()
        })
        const beats = setInterval(() => wake(), KEEPALIVE_MS)
        let closed = false
        out.onAbort(() => {
          closed = true
          wake()
        })
        try {
          let last = ''
          while (!closed) {
            // A reading may have come already (the feed hands the latest at once on subscribing).
            if (!pending) await new Promise<void>((resolve) => (wake = resolve))
            if (closed) break
            const f = pending
            pending = undefined
            if (!f) {
              await out.write(': keepalive\n\n')
              continue
            }
            const escrow = await escrowOf(user, f).catch(() => undefined)
            if (escrow === undefined) continue // the database is away: the next reading tries again
            const data = JSON.stringify(live(f, escrow))
            if (data === last) continue
            last = data
            await out.writeSSE({ data })
          }
        } finally {
          restore()
          clearInterval(beats)
          unsubscribe()
          release()
        }
      },
      onStreamError(deps),
    )
    return liveHeaders(res)
  })
  return app
}
