import { Hono } from 'hono'
import { stream } from 'hono/streaming'
import { GridError } from '../errors'
import {
  type AttemptView,
  Credentials,
  type Health,
  type MeView,
  type Registered,
  RegisterRequest,
  SubmitJob,
  type SubmittedArray,
} from '../protocol/api'
import { VERSION } from '../version'
import type { Auth } from './auth'
import type { JobEvents } from './events'
import type { Hub } from './hub'
import { jobView, type Lifecycle } from './lifecycle'
import type { StorageQuota } from './quota'
import type { Scheduler } from './scheduler'
import type { Clock, Settings } from './settings'
import type { Store, UserRow } from './store'
import type { BlobStore } from './blobs'
import type { DiskGuard } from './disk'
import { creditRoutes } from './credits-routes'
import { followOutput, KEEPALIVE_MS } from './output-follow'
import { fileRoutes } from './file-routes'
import { inviteRoutes } from './invite-routes'
import { capBodies, InFlight, TooManyOpen } from './user-caps'
import { parseBody } from './validate'
import { receiptOf } from './receipts'
import { jobQuery } from './job-query'
import { arrayRoutes } from './array-routes'
import { isBatch, waitsFor } from './workflows'
import type { Refused } from './log'

/** What the routes need, built once at start-up. */
export interface AppDeps {
  store: Store
  auth: Auth
  lifecycle: Lifecycle
  scheduler: Scheduler
  hub: Hub
  events: JobEvents
  clock: Clock
  settings: Settings
  blobs: BlobStore
  /** Turns a full disk into 507 answers and a degraded /health. */
  disk?: DiskGuard | undefined
  startedAt: number
  /** The address users and workers should use, shown by /health. */
  publicUrl?: string | undefined
  /** The users' storage quota, shared with the dashboard's run form. */
  quota?: StorageQuota | undefined
  /** Each user's requests with bodies in flight, shared with the dashboard's forms (`maxBodiesPerUser`). */
  bodies?: InFlight | undefined
  /** Lifts the HTTP idle timeout for one long-lived answer (the live-output stream). */
  holdOpen?: (req: Request) => void
  /** Told of every refused request (the log's `refused` line). */
  refused?: (r: Refused) => void
}

/** Per request: the client's address (from `server.requestIP`, passed to `app.fetch`) and the user. */
type Env = { Bindings: { ip?: string | undefined } | undefined; Variables: { user: UserRow } }

/** How many queued jobs of one `GET /api/jobs` answer carry `waiting` (each costs a queue-position query). */
const EXPLAINED_IN_LIST = 20

/** The HTTP API of the coordinator. */
export function createApp(deps: AppDeps): Hono<Env> {
  const { store, auth, lifecycle, hub, events, clock } = deps
  const workerName = async (id: string | null) => (id ? ((await store.workers.get(id))?.name ?? id) : null)
  // `waiting` costs a few queries, so only single-job answers explain a queued job.
  const view = async (job: Parameters<typeof jobView>[0], owner: Pick<UserRow, 'name'>, explain = true) => {
    // A job waiting for others says for which (`--after`); its dependencies cost a query, so
    // lists show them only for the jobs they explain.
    const after = explain || job.held ? await store.workflows.dependencies(job.id) : []
    const waiting =
      job.state !== 'queued' || !explain
        ? null
        : job.held
          ? waitsFor(after)
          : await deps.scheduler.explain(job)
    return jobView(job, owner.name, await workerName(job.workerId), waiting, after)
  }

  const app = new Hono<Env>()

  app.onError((err, c) => {
    // Every refusal is also a `refused` line of the log (status, code, the client's address).
    const refuse = (status: number, code: string, message: string) => {
      deps.refused?.({ status, code, message, method: c.req.method, url: c.req.url, address: c.env?.ip })
      return c.json({ error: { code, message } }, status as 400)
    }
    if (err instanceof GridError) {
      if (err.retryAfterS !== undefined) c.header('Retry-After', String(err.retryAfterS))
      return refuse(err.status, err.code, err.message)
    }
    // A full disk is the operator's to fix, not a bug: logged once, answered with what happened.
    const full = deps.disk?.refusal(err)
    if (full) return refuse(507, full.code, full.message)
    console.error(`coordinator: internal error on ${c.req.method} ${c.req.path}:`, err)
    return refuse(500, 'internal', 'internal error; see the coordinator log')
  })
  app.notFound((c) =>
    c.json({ error: { code: 'not_found', message: `no route ${c.req.method} ${c.req.path}` } }, 404),
  )

  app.get('/health', async (c) => {
    // A coordinator whose database is away is up, and says so: its sockets and followers stay.
    const none: Record<string, number> = {}
    const counts = await store.queue.counts().catch(() => none)
    const problem = store.health.problem() ?? deps.disk?.problem()
    const health: Health = {
      status: problem ? 'degraded' : 'ok',
      reason: problem ?? null,
      version: VERSION,
      uptimeSeconds: Math.round((clock.now() - deps.startedAt) / 1000),
      workers: hub.connected().length,
      queuedJobs: counts['queued'] ?? 0,
      runningJobs: (counts['assigned'] ?? 0) + (counts['running'] ?? 0),
      publicUrl: deps.publicUrl ?? null,
    }
    return c.json(health)
  })

  app.post('/api/auth/register', async (c) => {
    const user = await auth.register(await parseBody(c.req.raw, RegisterRequest), c.env?.ip)
    const body: Registered = {
      user: user.name,
      operator: user.isAdmin,
      grantMc: (await store.credits.of(user.id, 0)).balance,
    }
    return c.json(body, 201)
  })
  app.post('/api/auth/login', async (c) =>
    c.json(await auth.login(await parseBody(c.req.raw, Credentials), c.env?.ip)),
  )

  app.use('/api/*', async (c, next) => {
    c.set('user', await auth.authenticate(c.req.header('authorization')))
    await next()
  })
  const inFlight = deps.bodies ?? new InFlight()
  app.use('/api/*', capBodies(deps.settings, inFlight))

  app.post('/api/auth/logout', async (c) => {
    await auth.logout(c.req.header('authorization'))
    return c.body(null, 204)
  })
  app.get('/api/me', (c) => {
    const me: MeView = { user: c.get('user').name, operator: c.get('user').isAdmin }
    return c.json(me)
  })
  app.get('/api/workers', (c) => c.json(hub.views()))
  app.route('/api/credits', creditRoutes({ store, clock }))
  app.route('/api/invites', inviteRoutes({ store, clock, settings: deps.settings }))
  app.route(
    '/api',
    fileRoutes({ store, blobs: deps.blobs, lifecycle, settings: deps.settings, clock, quota: deps.quota }),
  )

  app.post('/api/jobs', async (c) => {
    const user = c.get('user')
    const req = await parseBody(c.req.raw, SubmitJob)
    if (isBatch(req)) {
      const rows = await lifecycle.submitBatch(user, req)
      deps.scheduler.wake()
      const views = await Promise.all(rows.map((r) => view(r, user, false)))
      if (req.array === undefined) return c.json(views[0], 201)
      const answer: SubmittedArray = { array: rows[0]!.arrayId!, jobs: views }
      return c.json(answer, 201)
    }
    const job = await lifecycle.submit(user, req)
    deps.scheduler.wake()
    return c.json(await view(job, user, false), 201)
  })
  app.route('/api/arrays', arrayRoutes({ store, lifecycle, view }))
  app.get('/api/jobs', async (c) => {
    const user = c.get('user')
    // Filtered by state, name glob and labels (issue 17); newest first, the caller's own only
    // (everyone's with all=1, for operators: each job then names its own owner).
    const jobs = await store.queue.list(jobQuery(c.req, user))
    // The newest queued jobs say why they wait, as GET /api/jobs/:id does; past a bound they
    // answer null, so a long list of queued jobs costs no more than EXPLAINED_IN_LIST queries.
    let explained = 0
    return c.json(
      await Promise.all(
        jobs.map((j) =>
          view(j, { name: j.ownerName }, j.state === 'queued' && explained++ < EXPLAINED_IN_LIST),
        ),
      ),
    )
  })
  app.get('/api/jobs/:id', async (c) => {
    const user = c.get('user')
    return c.json(await view(await lifecycle.ownJob(user, c.req.param('id')), user))
  })
  // Every attempt: where it ran and why it ended.
  app.get('/api/jobs/:id/attempts', async (c) => {
    const job = await lifecycle.ownJob(c.get('user'), c.req.param('id'))
    const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString())
    const attempts = await store.leases.attemptsOf(job.id)
    const names = new Map<string, string | null>()
    for (const a of attempts) names.set(a.workerId, await workerName(a.workerId))
    const list: AttemptView[] = attempts.map((a) => ({
      attempt: a.attempt,
      worker: names.get(a.workerId) ?? a.workerId,
      assignedAt: new Date(a.assignedAt).toISOString(),
      startedAt: iso(a.startedAt),
      endedAt: iso(a.endedAt),
      outcome: a.outcome,
      reason: a.reason,
      signed: a.signature !== null,
    }))
    return c.json(list)
  })
  // The worker's signed receipt of the job's result, self-contained for `gridx verify`.
  app.get('/api/jobs/:id/receipt', async (c) => {
    const job = await lifecycle.ownJob(c.get('user'), c.req.param('id'))
    return c.json(await receiptOf(store, job))
  })

  app.post('/api/jobs/:id/cancel', async (c) => {
    const user = c.get('user')
    const job = await lifecycle.cancel(user, c.req.param('id'))
    deps.scheduler.wake()
    return c.json(await view(job, user))
  })

  // NDJSON: stored output of the current attempt, then (with follow=1) live events until the job ends.
  app.get('/api/jobs/:id/output', async (c) => {
    const user = c.get('user')
    // The whole id: the path may give a prefix of it.
    const id = (await lifecycle.ownJob(user, c.req.param('id'))).id
    const follow = c.req.query('follow') === '1' || c.req.query('follow') === 'true'
    c.header('content-type', 'application/x-ndjson')
    c.header('cache-control', 'no-store')
    // Each followed stream holds a connection open for as long as the job runs: a few per user.
    const release = follow
      ? inFlight.take(
          `follow:${user.id}`,
          deps.settings.maxFollowsPerUser,
          (open) =>
            new TooManyOpen(
              `you are following ${open} jobs' output already, the most this coordinator allows at once: stop one (Ctrl-C on a 'gridx logs --follow') and try again`,
            ),
        )
      : () => undefined
    if (follow) {
      // A job may stay quiet for hours: the stream is exempt from the idle timeout and sends a
      // keepalive line instead. Without the timeout the connection must not outlive the stream.
      deps.holdOpen?.(c.req.raw)
      c.header('connection', 'close')
    }
    const keepaliveMs = Math.min(KEEPALIVE_MS, deps.settings.idleTimeoutMs / 2)
    return stream(c, async (out) => {
      const abort = new AbortController()
      out.onAbort(() => abort.abort())
      try {
        const output = followOutput({ store, events }, id, {
          follow,
          signal: abort.signal,
          keepaliveMs,
          load: () => lifecycle.ownJob(user, id),
          end: (job) => view(job, user),
        })
        for await (const e of output) await out.write(`${JSON.stringify(e)}\n`)
      } finally {
        release()
      }
    })
  })

  return app
}
