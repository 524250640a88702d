import type { Server } from 'bun'
import { describe, GridError } from '../errors'
import { formatBytes, formatDuration } from '../protocol/units'
import { serverTlsOptions } from '../tls/profile'
import { createApp } from './app'
import { Auth } from './auth'
import { type BlobStore, openBlobs, sweepBlobs } from './blobs'
import { secureDataDir } from './data-dir'
import { DiskGuard } from './disk'
import { JobEvents } from './events'
import { HttpGuard, refusal, restoreIdleTimeout } from './http-guard'
import { Grid } from './grid'
import { Hub, type SocketData } from './hub'
import { Lifecycle } from './lifecycle'
import { coordinatorMetrics, metricsAnswer } from './metrics'
import { Observers } from './observe'
import { checkOrigin } from './origin'
import { QueueIndex, watchQueue } from './queue-index'
import { Scheduler } from './scheduler'
import { type Clock, DEFAULT_SETTINGS, type Settings, systemClock } from './settings'
import { openStore, type Store } from './store'
import { silenceFor } from './heartbeat-budget'
import { createWeb, isApiPath } from '../web'
import { JobLog, Logger, logRefused, logRequests } from './log'
import { startFields } from './log/start'
import { StorageQuota } from './quota'
import { ReceiptThread } from './receipt-checker'
import { InFlight } from './user-caps'

/** Options of a coordinator; ports may be 0 to pick free ones. */
export interface CoordinatorOptions {
  host: string
  httpPort: number
  wsPort: number
  dataDir: string
  settings?: Partial<Settings>
  clock?: Clock
  /** Free-text lines; unset, they go to `logger` (or a text log on stdout when neither is given). */
  log?: (line: string) => void
  /** The structured log (`--log-format`, `--log-requests`): job, worker, refused and start lines. */
  logger?: Logger | undefined
  /** Serve HTTPS and WSS on both ports with this certificate chain and key (PEM). */
  tls?: { cert: string; key: string } | undefined
  /** The address users and workers reach the coordinator at (a proxy's), when it is not this one. */
  publicUrl?: string | undefined
  /** `postgres://…`: the grid's shared database; unset, SQLite in `dataDir`. */
  database?: string | undefined
  /** Keep job archives in this directory (one every coordinator mounts) instead of the database or `dataDir`. */
  blobDir?: string | undefined
  /** `GET /metrics` also takes this bearer token (`--metrics-token-file`), besides operators' logins. */
  metricsToken?: string | undefined
}

/**
 * An archive stored this recently is never removed: it may have been stored (with its database
 * row) after the sweep made its list of archives to keep.
 */
const GRACE_MS = 3_600_000

/** A running coordinator. */
export interface Coordinator {
  httpPort: number
  wsPort: number
  /** Where its database and stored archives are. */
  dataDir: string
  store: Store
  /** Where job archives are kept (a directory, or the grid's PostgreSQL). */
  blobs: BlobStore
  hub: Hub
  settings: Settings
  /** Removes stored archives past the retention (`keepFilesMs`); runs by itself every `fileSweepMs`. */
  sweepFiles(): Promise<{ removed: number; bytes: number }>
  /** Stops accepting, closes worker sockets and the database. */
  stop(): Promise<void>
}

/** Starts the coordinator: HTTP API and worker WebSocket, on both ports. */
export async function startCoordinator(opts: CoordinatorOptions): Promise<Coordinator> {
  const settings: Settings = { ...DEFAULT_SETTINGS, ...opts.settings }
  const clock = opts.clock ?? systemClock
  // A coordinator given only a `log` (tests) writes no structured lines; one given neither logs text to stdout.
  const logger = opts.logger ?? (opts.log ? undefined : new Logger({ format: 'text' }))
  const log = opts.log ?? logger?.message ?? (() => undefined)
  // Password hashes, scripts and job files: the coordinator's user only, also in older data dirs.
  secureDataDir(opts.dataDir)
  const disk = new DiskGuard(opts.dataDir, log)
  const store = await openStore({ dataDir: opts.dataDir, database: opts.database, log })
  try {
    const c = await serve(opts, { settings, clock, log, logger, disk, store })
    // A logger made here is stopped here; one given is its giver's to stop, flushed at the stop.
    const stop = c.stop.bind(c)
    c.stop = async () => {
      await stop()
      await (opts.logger ? logger?.flush() : logger?.stop())
    }
    return c
  } catch (err) {
    // Whatever stopped the start, the database file is not left open behind it.
    disk.stop()
    await store.close()
    throw err
  }
}

/** The coordinator around an opened store: its parts, both servers and the sweeps. */
async function serve(
  opts: CoordinatorOptions,
  {
    settings,
    clock,
    log,
    logger,
    disk,
    store,
  }: {
    settings: Settings
    clock: Clock
    log: (line: string) => void
    logger: Logger | undefined
    disk: DiskGuard
    store: Store
  },
): Promise<Coordinator> {
  // A start-up write that finds the disk full leaves the coordinator running degraded, not dead.
  const diskFull = (err: unknown) => disk.refusal(err) !== undefined
  // Workers back off up to 30 s between reconnects; leases held across a restart (or a takeover
  // of the sweeps from a coordinator that died) get time to return before any expires.
  // After a start (the whole grid may have been down) they get a minute, as workers' backoff
  // grows to 30 s; after a takeover, two lease periods: the dead one's workers move at once.
  const extendLeases = async (forMs: number) => {
    try {
      const extended = await store.leases.extendLeases(clock.now() + forMs, clock.now(), settings)
      if (extended > 0) log(`${extended} running job(s) keep their leases while their workers reconnect`)
    } catch (err) {
      if (!diskFull(err)) throw err
      log('could not extend the leases of running jobs: the disk is full; trying again in a minute')
      // It also gives a deadline to attempts from before deadlines were kept, and the lease sweep
      // reads only attempts that have one: it is tried until it is done.
      setTimeout(() => void extendLeases(forMs).catch(() => undefined), 60_000).unref()
    }
  }
  // One coordinator of a grid runs the sweeps (on SQLite, this one); it is decided before serving.
  let leading = await store.leadership.hold()
  if (leading) await extendLeases(Math.max(2 * settings.leaseMs, 60_000))
  const events = new JobEvents()
  const lifecycle = new Lifecycle(store, events, clock, settings, log)
  // Results' signatures are checked off the main thread, which dispatches (started at the first result).
  const receiptThread = new ReceiptThread({ log })
  lifecycle.signatures = receiptThread
  const index = new QueueIndex()
  // The hub asks the scheduler for passes; the scheduler sends through the hub.
  const hub = new Hub(store, lifecycle, clock, settings, () => scheduler.wake(), log)
  const scheduler = new Scheduler(store, index, hub, events, clock, settings, (err) => {
    if (!disk.refusal(err)) log(`scheduling pass failed: ${describe(err)}`)
  })
  // The other coordinators of the grid hear of the queue's changes, of job events and of cancels for their workers.
  const grid = new Grid(store.bus, hub, events, (queued, taken) => queueElsewhere(queued, taken), log)
  const queueElsewhere = (queued: string[], taken: string[]) => {
    for (const id of taken) index.remove(id)
    if (queued.length === 0) return
    store.queue
      .queued(queued)
      .then((jobs) => {
        // Placed here once this coordinator's own jobs of the same priority are placed.
        for (const job of jobs) index.add(job, false)
        scheduler.wake()
      })
      .catch((err: unknown) => log(`could not read jobs queued by another coordinator: ${describe(err)}`))
  }
  // The log and the metrics hear every transition and worker socket through one seam.
  const observers = new Observers()
  lifecycle.observe = observers
  scheduler.observe = observers
  hub.observe = observers
  if (logger) {
    observers.add(
      new JobLog(logger, {
        workerName: (id) => hub.nameOf(id),
        userName: async (id) => (await store.accounts.byId(id))?.name,
        jobOwner: async (id) => (await store.queue.job(id))?.ownerId,
      }),
    )
  }
  const refused = logger && ((r: Parameters<typeof logRefused>[1]) => logRefused(logger, r))
  // Prometheus metrics (src/coordinator/metrics): the grid's counters hear the same seam.
  const metrics = coordinatorMetrics({ store, hub, isApi: isApiPath, startedAtMs: Date.now() })
  observers.add(metrics.grid)
  hub.countFrame = metrics.grid.frame
  lifecycle.watch = watchQueue(index, grid)
  lifecycle.wake = () => scheduler.wake()
  scheduler.onTaken = (ids) => grid.taken(ids)
  scheduler.onAssigned = (row) => lifecycle.leases.assigned(row)
  hub.onConnected = (workerId) => grid.connected(workerId)
  // On SQLite no other coordinator follows this one's jobs: nothing to relay.
  if (store.bus.shared) {
    events.relay = (jobId, event) => grid.relay(jobId, event)
    events.followed = (jobId) => grid.follow(jobId)
  }
  lifecycle.link = grid
  await scheduler.load()
  await grid.start(() => {
    scheduler
      .load()
      .then(() => scheduler.wake())
      .catch((err: unknown) => log(`could not read the queue again: ${describe(err)}`))
    events.resyncAll()
  })
  hub.diskFull = (err) => disk.refusal(err)
  const auth = await new Auth(store, clock, settings, log, diskFull).start()
  const blobs = openBlobs({ dataDir: opts.dataDir, blobDir: opts.blobDir, chunks: store.blobChunks })
  // Which of the two servers received a request: only that one can lift its idle timeout.
  const receivedBy = new WeakMap<Request, Server<SocketData>>()
  // One quota for the API's uploads and the dashboard's run form: both count a user's uploads in flight.
  const quota = new StorageQuota(store, settings, clock)
  // And one count of each user's requests with bodies in flight, the API's and the dashboard's.
  const bodies = new InFlight()
  // A long-lived answer (a followed output, a live page) is exempt from the idle timeout until
  // it ends; the returned function gives the timeout back.
  const holdOpen = (req: Request) => {
    const server = receivedBy.get(req)
    server?.timeout(req, 0)
    return () => {
      if (server) restoreIdleTimeout(server, req, settings.idleTimeoutMs)
    }
  }
  // What the API's routes and the dashboard's pages are both built from.
  const parts = {
    store,
    auth,
    lifecycle,
    scheduler,
    hub,
    events,
    clock,
    settings,
    blobs,
    quota,
    bodies,
    publicUrl: opts.publicUrl,
    holdOpen,
  }
  const app = createApp({ ...parts, disk, startedAt: clock.now(), refused })
  const scrape = metricsAnswer({ registry: metrics.registry, auth, token: opts.metricsToken })
  app.get('/metrics', (c) => scrape(c.req.raw))
  metrics.http.routes.learn(app.routes)
  // The dashboard: every path the API does not answer (see src/web).
  const web = createWeb({
    ...parts,
    secure: opts.tls !== undefined || opts.publicUrl?.startsWith('https:') === true,
    log,
    observers,
  })
  const guard = new HttpGuard(settings, opts.tls !== undefined, {
    log,
    diskFull: (err) => disk.refusal(err),
    refused: (req, address, status, code, message) =>
      refused?.({ status, code, message, method: req.method, url: req.url, address }),
  })

  // Bun lets a fetch handler upgrade after it awaited, as long as it has not answered yet.
  const upgrade = async (req: Request, server: Server<SocketData>): Promise<Response | undefined> => {
    try {
      checkOrigin(req, opts.publicUrl)
      const user = await auth.authenticate(req.headers.get('authorization'))
      if (server.upgrade(req, { data: { user } })) return undefined
      throw new GridError('upgrade_required', 'connect with a WebSocket', { status: 426 })
    } catch (err) {
      const e = err instanceof GridError ? err : new GridError('internal', describe(err), { status: 500 })
      const address = server.requestIP(req)?.address
      refused?.({
        status: e.status,
        code: e.code,
        message: e.message,
        method: req.method,
        url: req.url,
        address,
      })
      return Response.json({ error: { code: e.code, message: e.message } }, { status: e.status })
    }
  }
  const route = (
    req: Request,
    server: Server<SocketData>,
    ip: string | undefined,
  ): Response | Promise<Response | undefined> | undefined => {
    const url = new URL(req.url)
    if (url.pathname === '/ws/worker') return upgrade(req, server)
    receivedBy.set(req, server)
    return isApiPath(url.pathname) ? app.fetch(req, { ip }) : web.fetch(req, { ip })
  }
  // The address is read from the request Bun received: a metered body travels in a new Request,
  // which Bun knows no address for.
  const guarded = (req: Request, server: Server<SocketData>) => {
    const ip = server.requestIP(req)?.address
    // Counted and timed whole, under its route's template (metrics/http.ts).
    return metrics.http.measure(req, () => guard.handle(req, server, (checked) => route(checked, server, ip)))
  }
  // `--log-requests`: a `request` line per request; without it, no wrapper on the path at all.
  const fetch = logger?.requests
    ? logRequests(logger, guarded, (req, server) => server.requestIP(req)?.address)
    : guarded
  const websocket = {
    // The largest honest frame is a hello or heartbeat listing 4096 leases (some 300 KiB).
    maxPayloadLength: 1024 * 1024,
    // Past the silence of a worker told the longest interval (Bun allows at most 960 s).
    idleTimeout: Math.min(960, Math.ceil(silenceFor(hub.heartbeats.budget.ceilingMs, settings) / 1000) + 10),
    message: (ws: Bun.ServerWebSocket<SocketData>, raw: string | Buffer) => hub.onFrame(ws, raw),
    close: (ws: Bun.ServerWebSocket<SocketData>, code: number, reason: string) =>
      hub.onClose(ws, code, reason),
  }
  const listen = (port: number, flag: string, env: string): Server<SocketData> => {
    try {
      return Bun.serve<SocketData>({
        hostname: opts.host,
        port,
        fetch,
        websocket,
        // Bun's own limits are the backstop; the guard's come first and answer in JSON. Headers must
        // arrive within about 10 s whatever this says (Bun's fixed limit; each byte does not extend it).
        idleTimeout: Math.min(255, Math.max(1, Math.ceil(settings.idleTimeoutMs / 1000))),
        // The guard enforces every route's limit, from Content-Length and while a body streams, and
        // answers in JSON; Bun's own limit would answer a large Content-Length with an empty 413.
        maxRequestBodySize: Number.MAX_SAFE_INTEGER,
        error: (err) => {
          log(`HTTP request failed: ${describe(err)}`)
          return refusal(err)
        },
        ...(opts.tls ? { tls: serverTlsOptions(opts.tls) } : {}),
      })
    } catch (err) {
      const code = (err as { code?: string }).code
      if (code === 'EADDRINUSE') {
        throw new GridError(
          'port_in_use',
          `port ${port} on ${opts.host} is already in use (another 'gridx serve'?): stop it, or pick another port with ${flag} or ${env}`,
        )
      }
      if (code === 'EACCES') {
        throw new GridError(
          'port_denied',
          `not allowed to listen on port ${port}: use a port above 1023 with ${flag}`,
        )
      }
      throw new GridError('listen_failed', `cannot listen on ${opts.host}:${port}: ${describe(err)}`, {
        cause: err,
      })
    }
  }

  const http = listen(opts.httpPort, '--http-port', 'GRIDX_HTTP_PORT')
  let ws: Server<SocketData>
  try {
    ws = listen(opts.wsPort, '--ws-port', 'GRIDX_WS_PORT')
  } catch (err) {
    void http.stop(true)
    throw err
  }

  // One sweep at a time: a slow database must not stack them up.
  let sweepingLeases = false
  let analysing = false
  let analyseFailed = false
  const sweeper = setInterval(() => {
    if (sweepingLeases) return
    sweepingLeases = true
    const sweep = async () => {
      hub.sweepSilent()
      // Jobs other coordinators assigned and ended are counted from the rows now and then (fair share).
      if (store.bus.shared) index.countActive(await store.queue.active())
      // A pass now and then places what a job's wake missed.
      scheduler.wake()
      const now = await store.leadership.hold()
      if (now !== leading) {
        log(now ? 'this coordinator runs the sweeps now' : 'another coordinator runs the sweeps now')
        leading = now
        if (now) {
          await extendLeases(2 * settings.leaseMs)
          // What the last leader's sweep had not reached yet: every waiting job is looked at again.
          lifecycle.waiting.restart()
        }
      }
      await auth.retryOperators()
      if (!leading) return
      if ((await lifecycle.expireLeases()) + (await lifecycle.expireDeadlines()) > 0) scheduler.wake()
      // Jobs whose dependencies ended where no one settled them (a crash, a race with their submission).
      await lifecycle.waiting.run()
      // Beside the sweep, never in its way (an ANALYZE of a big table takes a while): one at a time.
      if (store.plannerStats && !analysing) {
        analysing = true
        store.plannerStats
          .freshen()
          .then(() => (analyseFailed = false))
          .catch((err) => {
            // Said once until it works again: the database's outage is logged by the store.
            if (!analyseFailed) log(`analysing the tables failed (tried again each sweep): ${describe(err)}`)
            analyseFailed = true
          })
          .finally(() => (analysing = false))
      }
    }
    sweep()
      .catch((err) => {
        if (!disk.refusal(err)) log(`sweep failed: ${describe(err)}`)
      })
      .finally(() => (sweepingLeases = false))
  }, settings.sweepMs)
  // Job files are kept for a while after their job ends, then removed, so the disk does not fill.
  const sweepFiles = async () => {
    const keep = await store.files.toKeep(clock.now() - settings.keepFilesMs)
    // File times are the machine's clock, whatever clock the coordinator runs on.
    const gone = await sweepBlobs(blobs, keep, Date.now() - Math.min(GRACE_MS, settings.keepFilesMs))
    if (gone.removed > 0)
      log(
        `removed ${gone.removed} stored archive(s), ${formatBytes(gone.bytes)}, kept past ${formatDuration(settings.keepFilesMs)}`,
      )
    return gone
  }
  let sweeping = false
  const sweepFilesLogged = () => {
    if (sweeping || !leading) return
    sweeping = true
    sweepFiles()
      .catch((err) => {
        if (!disk.refusal(err)) log(`removing old job files failed: ${describe(err)}`)
      })
      .finally(() => (sweeping = false))
  }
  const fileSweeper = setInterval(sweepFilesLogged, Math.min(settings.fileSweepMs, settings.keepFilesMs))
  // The first soon after start (files may have expired while the coordinator was down), not during it.
  const firstSweep = setTimeout(sweepFilesLogged, 10_000)
  // Jobs queued before a restart are picked up as soon as workers return.
  scheduler.wake()
  logger?.event('info', 'start', startFields(opts, settings, { http: http.port, ws: ws.port }, store.engine))

  return {
    httpPort: http.port ?? opts.httpPort,
    wsPort: ws.port ?? opts.wsPort,
    dataDir: opts.dataDir,
    store,
    blobs,
    hub,
    settings,
    sweepFiles,
    async stop() {
      clearInterval(sweeper)
      clearInterval(fileSweeper)
      clearTimeout(firstSweep)
      disk.stop()
      hub.closeAll()
      // Checks still waiting are made here, so their results end before the store closes.
      receiptThread.stop()
      await Promise.all([http.stop(true), ws.stop(true)])
      await store.close()
    },
  }
}
