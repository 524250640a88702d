import { describe, GridError } from '../errors'
import type { CoordinatorAddress } from '../client/address'
import { type Trust, tlsOptions } from '../client/trust'
import { VERSION } from '../version'
import {
  CloseCode,
  CoordinatorMessage,
  DEFAULT_SOCKET_BUDGET,
  parseFrame,
  otherVersion,
  PROTOCOL_VERSION,
  versionAdvice,
  type LeaseRef,
  WORKER_LIMITS,
  type WorkerMessage,
} from '../protocol/worker'
import { type SigningKey, signReceipt } from '../protocol/receipt'
import { Outgoing } from './outgoing'
import { key, PendingResults, RESEND_MS } from './results'
import { explainRefusal } from './refusal'
import {
  describeRoute,
  NO_PROXY_SETTINGS,
  type ProxySettings,
  type Route,
  routeFor,
  socketProxy,
} from '../client/proxy'
import {
  type AttemptEnd,
  CONNECT_TIMEOUT_MS,
  closeReason,
  reconnectLine,
  SILENT_BEATS,
  silentReason,
  timeoutReason,
} from './reconnect'
import { Executor, type FileTransfer } from './executor'
import type { Environments } from './env/environments'
import type { Policy } from './policy'
import type { ContainerRuntime, EngineInfo } from './runtime'

/** The agent's lifecycle; every transition is logged. */
export type AgentState = 'connecting' | 'authenticating' | 'ready' | 'draining' | 'stopped'

/** Reconnect delays: exponential with full jitter, capped. */
export interface Backoff {
  baseMs: number
  maxMs: number
  random?: () => number
}

/** Delay before reconnect attempt `n` (0-based): uniform in [0, min(max, base * 2^n)]. */
export function backoffDelay(n: number, b: Backoff): number {
  const ceiling = Math.min(b.maxMs, b.baseMs * 2 ** Math.min(n, 30))
  return Math.round((b.random ?? Math.random)() * ceiling)
}

/** What an agent needs, built by `gridx work`. */
export interface AgentOptions {
  addr: CoordinatorAddress
  /** What to trust for wss besides the system CAs (`--ca-cert`, a pin from a join). */
  trust?: Trust | undefined
  /**
   * Every coordinator of the grid, in the order to try them (`addr` first when absent): the
   * worker stays on the one that welcomed it and moves to the next when it fails.
   */
  coordinators?: readonly CoordinatorAddress[] | undefined
  /** The trust of one of `coordinators` (its pin checked first); default: `trust` for all. */
  trustFor?: ((addr: CoordinatorAddress) => Promise<Trust | undefined>) | undefined
  /** Told which coordinator welcomed the worker, so file transfers go there too. */
  onConnected?: ((addr: CoordinatorAddress) => void) | undefined
  /** Returns a valid token; called again when the coordinator refuses the current one. */
  token: (refresh: boolean) => Promise<string>
  workerId: string
  name: string
  slots: number
  engine: EngineInfo
  runtime: ContainerRuntime
  /** What the owner lets this worker run. */
  policy: Policy
  /** Python package environments; undefined when the worker installs none. */
  envs?: Environments | undefined
  /** Moves job files to and from the coordinator. */
  transfer: FileTransfer
  /** The worker's Ed25519 key; results are signed with it. */
  key: SigningKey
  /** While draining, hand running jobs back after this long (undefined: wait for them). */
  drainTimeoutMs?: number | undefined
  backoff?: Backoff
  /** HTTPS_PROXY / HTTP_PROXY / NO_PROXY for the worker socket (default: none). */
  proxy?: ProxySettings | undefined
  /** Each connection attempt gives up after this long without a welcome (default 10 s). */
  connectTimeoutMs?: number
  log: (line: string) => void
}

/** The worker agent: connects out, authenticates, takes jobs, reconnects when dropped. */
export class Agent {
  private state: AgentState = 'connecting'
  private socket: WebSocket | undefined
  /** What goes out: paced once welcomed (the coordinator closes a socket that floods it), kept while away. */
  private readonly outgoing = new Outgoing((text) => this.write(text))
  private heartbeat: ReturnType<typeof setTimeout> | undefined
  private readonly executor: Executor
  /** Results the coordinator has not acknowledged. */
  private readonly unacked = new PendingResults((m) => this.sendNow(m))
  private readonly stopped: Promise<void>
  private resolveStopped!: () => void
  private wakeRetry: (() => void) | undefined
  private drainTimer: ReturnType<typeof setTimeout> | undefined
  private sweeper: ReturnType<typeof setInterval> | undefined
  /** True between the coordinator's welcome and the socket's close: reports can go out. */
  private welcomed = false
  private fatal: GridError | undefined
  /** The coordinator's last error message, quoted when it refuses this worker for good. */
  private lastRefusal: string | undefined
  /** When the coordinator last sent anything (a message or a pong): silence means the link is gone. */
  private lastHeard = 0
  /** Ends the current connection attempt as lost after `ms` of silence. */
  private onSilent: ((ms: number) => void) | undefined
  /** The coordinators, and which one this worker uses now. */
  private readonly coordinators: readonly CoordinatorAddress[]
  private at = 0
  /** Resolves once the agent has said hello and been welcomed (tests and the CLI wait on it). */
  readonly ready: Promise<void>
  private resolveReady!: () => void

  constructor(private readonly opts: AgentOptions) {
    this.executor = new Executor({
      runtime: opts.runtime,
      workerId: opts.workerId,
      sign: (body) => signReceipt(body, opts.key),
      report: (m) => this.report(m),
      transfer: opts.transfer,
      log: opts.log,
      images: opts.policy.allow,
      pull: opts.policy.pull,
      ociRuntime: opts.policy.ociRuntime,
      maxDiskBytes: opts.policy.maxDiskBytes,
      envs: opts.envs,
      limits: {
        cpus: opts.policy.cpus,
        memoryBytes: opts.policy.memoryBytes,
        maxTimeoutMs: opts.policy.offer.maxTimeoutMs,
      },
    })
    this.stopped = new Promise((r) => (this.resolveStopped = r))
    this.ready = new Promise((r) => (this.resolveReady = r))
    this.coordinators = opts.coordinators?.length ? opts.coordinators : [opts.addr]
  }

  /** The coordinator this worker is connected to, or tries next. */
  get coordinator(): CoordinatorAddress {
    return this.coordinators[this.at]!
  }

  /** Current lifecycle state. */
  get current(): AgentState {
    return this.state
  }

  /** Runs until `stop` is called; rejects when the coordinator refuses this worker for good. */
  async run(): Promise<void> {
    let failures = 0
    let attempt = 1
    let refresh = false
    while (this.state !== 'stopped') {
      if (this.state !== 'draining') this.transition('connecting')
      const end = await this.connectOnce(refresh)
      if ((this.state as AgentState) === 'stopped') break
      if (this.fatal) throw this.fatal
      refresh = end.outcome === 'unauthorized'
      const wasOpen = end.outcome === 'was-ready'
      failures = wasOpen ? 0 : failures + 1
      attempt = wasOpen ? 1 : attempt + 1
      const from = this.coordinator
      // A refused token is tried again where it was refused (with a fresh one); any other end
      // moves to the next coordinator. The backoff grows per round of the list, so a grid whose
      // first coordinator died is left for the next one within a fraction of a second.
      if (!refresh) this.at = (this.at + 1) % this.coordinators.length
      const round = Math.floor(failures / this.coordinators.length)
      const delay = backoffDelay(round, this.opts.backoff ?? { baseMs: 500, maxMs: 30_000 })
      const next = this.coordinator === from ? undefined : this.coordinator.wsUrl
      this.opts.log(reconnectLine(from.wsUrl, end, wasOpen, delay, attempt, next))
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay)
        this.wakeRetry = () => {
          clearTimeout(t)
          resolve()
        }
      })
    }
    await this.stopped
  }

  /**
   * First call: stop taking jobs and let the running ones finish, then stop. A second call (or
   * the drain timeout) hands the running jobs back to the queue and stops at once.
   */
  drain(): void {
    if (this.state === 'stopped') return
    if (this.state === 'draining') return void this.handBack('asked twice')
    this.transition('draining')
    this.sendNow({ type: 'drain' })
    const n = this.executor.busy
    if (n === 0) return void this.afterJob()
    this.opts.log(
      `draining: ${n} running job(s) will finish first; send SIGTERM again${this.opts.drainTimeoutMs ? ` or wait ${Math.round(this.opts.drainTimeoutMs / 1000)}s` : ''} to hand them back to the queue`,
    )
    if (this.opts.drainTimeoutMs) {
      this.drainTimer = setTimeout(() => void this.handBack('drain timeout'), this.opts.drainTimeoutMs)
    }
  }

  /** While draining: once the last job has ended and its result was acknowledged, stop. */
  private async afterJob(): Promise<void> {
    if (this.state !== 'draining' || this.executor.busy > 0) return
    for (let i = 0; i < 100 && this.unacked.size > 0; i++) await Bun.sleep(50)
    if (this.executor.busy === 0) {
      this.opts.log('drained: no job is running any more')
      this.finalize()
    }
  }

  /** Hands every running job back to the coordinator (it reruns them elsewhere), then stops. */
  private async handBack(why: string): Promise<void> {
    const leases = this.executor.leases()
    if (leases.length) this.opts.log(`handing ${leases.length} running job(s) back to the queue (${why})`)
    for (const lease of leases) {
      this.sendNow({ type: 'job.release', lease, reason: `worker ${this.opts.name} stopped (${why})` })
      this.executor.abandon(lease)
    }
    for (let i = 0; i < 100 && this.executor.busy > 0; i++) await Bun.sleep(100)
    this.finalize()
  }

  private finalize(): void {
    if (this.state === 'stopped') return
    if (this.drainTimer) clearTimeout(this.drainTimer)
    this.transition('stopped')
    this.stopHeartbeat()
    this.stopSweeper()
    this.unacked.stop()
    this.socket?.close(CloseCode.normal, 'worker stopping')
    this.wakeRetry?.()
    this.resolveStopped()
  }

  /** Stops now: running jobs are handed back. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return
    if (this.state !== 'draining') {
      this.transition('draining')
      this.sendNow({ type: 'drain' })
    }
    await this.handBack('stopping')
  }

  private transition(next: AgentState): void {
    if (next === this.state) return
    this.opts.log(`worker ${this.state} -> ${next}`)
    this.state = next
  }

  private async connectOnce(refresh: boolean): Promise<AttemptEnd> {
    let token: string
    try {
      token = await this.opts.token(refresh)
    } catch (err) {
      if (err instanceof GridError && !err.retryable) this.fatal = err
      return { outcome: 'failed', reason: describe(err) }
    }
    const addr = this.coordinator
    const url = addr.wsUrl
    let route: Route
    try {
      route = routeFor(this.opts.proxy ?? NO_PROXY_SETTINGS, url)
    } catch (err) {
      this.fatal = err instanceof GridError ? err : new GridError('bad_proxy', describe(err))
      return { outcome: 'failed', reason: describe(err) }
    }
    let trust: Trust | undefined
    try {
      trust = this.opts.trustFor ? await this.opts.trustFor(addr) : this.opts.trust
    } catch (err) {
      // A certificate that is not the pinned one is refused for good; one that cannot be read yet is a failed attempt.
      if (err instanceof GridError && !err.retryable) this.fatal = err
      return { outcome: 'failed', reason: describe(err) }
    }
    const tls = trust || addr.serverName ? tlsOptions(trust, addr.serverName) : undefined
    return new Promise((resolve) => {
      let wasReady = false
      let opened = false
      let failure: unknown
      let settled = false
      const timeoutMs = this.opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS
      const via = route.kind === 'proxy' ? describeRoute(route) : undefined
      // Bun's WebSocket takes headers, so the upgrade itself is authenticated.
      const ws = new WebSocket(url, {
        headers: { authorization: `Bearer ${token}` },
        ...(tls ? { tls } : {}),
        ...socketProxy(route),
      })
      this.socket = ws
      /** Ends this attempt once: a socket cut off by a firewall may report its close minutes later, or never. */
      const settle = (end: AttemptEnd | Promise<AttemptEnd>) => {
        if (settled) return
        settled = true
        clearTimeout(connectTimer)
        this.stopHeartbeat()
        this.welcomed = false
        this.outgoing.close()
        if (this.socket === ws) this.socket = undefined
        if (this.state === 'stopped') return resolve({ outcome: 'was-ready', reason: 'stopped' })
        if (this.state !== 'draining') this.transition('connecting')
        void Promise.resolve(end).then(resolve)
      }
      const connectTimer = setTimeout(() => {
        if (wasReady) return
        settle({ outcome: 'failed', reason: timeoutReason(url, timeoutMs, opened, via) })
        ws.terminate()
      }, timeoutMs)
      this.onSilent = (ms) => {
        settle({ outcome: 'was-ready', reason: silentReason(ms) })
        ws.terminate()
      }
      ws.onopen = () => {
        opened = true
        this.lastHeard = Date.now()
        this.transition('authenticating')
        this.sendNow({
          type: 'hello',
          v: PROTOCOL_VERSION,
          workerId: this.opts.workerId,
          name: this.opts.name,
          version: VERSION,
          slots: this.opts.slots,
          cpus: this.opts.policy.cpus,
          memoryBytes: this.opts.policy.memoryBytes,
          docker: this.opts.engine.version,
          publicKey: this.opts.key.publicKey,
          running: this.held(),
          policy: this.opts.policy.offer,
          heartbeatUpdates: true,
        })
      }
      ws.addEventListener('pong', () => {
        this.lastHeard = Date.now()
        if (this.socket === ws) this.outgoing.ponged()
      })
      ws.onmessage = (ev) => {
        this.lastHeard = Date.now()
        const parsed = parseFrame(CoordinatorMessage, ev.data as string)
        const theirs = parsed.ok ? undefined : otherVersion(ev.data as string, 'welcome')
        if (theirs !== undefined) {
          // Another release: retrying cannot help, the operator must install the same one.
          this.fatal = new GridError('protocol_version', versionAdvice(theirs, PROTOCOL_VERSION))
          return ws.close(CloseCode.normal, 'protocol_version')
        }
        if (!parsed.ok) {
          this.opts.log(`ignoring a message the coordinator sent: ${parsed.error}`)
          return
        }
        if (parsed.msg.type === 'welcome') {
          wasReady = true
          clearTimeout(connectTimer)
        }
        this.onMessage(parsed.msg)
      }
      ws.onclose = (ev) => {
        if (settled) return
        if (!opened) {
          return settle(
            explainRefusal(failure, { ...this.opts, addr, trust, route }).then((r) => {
              if (r.fatal) this.fatal = r.fatal
              return { outcome: r.outcome, reason: r.reason }
            }),
          )
        }
        if (ev.code === CloseCode.forbidden) {
          // Refused for good (another account owns this worker id, or its key changed): retrying cannot help.
          this.fatal = new GridError(
            ev.reason || 'worker_refused',
            `the coordinator refused this worker: ${this.lastRefusal ?? ev.reason ?? 'forbidden'}`,
          )
          return settle({ outcome: 'failed', reason: 'refused' })
        }
        const reason = closeReason(ev.code, ev.reason)
        if (wasReady) return settle({ outcome: 'was-ready', reason })
        settle({
          outcome: 'failed',
          reason: `the coordinator closed the connection before welcoming this worker: ${reason}`,
        })
      }
      ws.onerror = (ev) => {
        failure = ev.error ?? ev.message
      }
    })
  }

  private onMessage(msg: CoordinatorMessage): void {
    switch (msg.type) {
      case 'welcome':
        this.outgoing.open(msg.budget ?? DEFAULT_SOCKET_BUDGET)
        this.welcomed = true
        if (this.state === 'draining') this.sendNow({ type: 'drain' })
        else this.transition('ready')
        this.startHeartbeat(msg.heartbeatMs)
        for (const m of this.unacked.all()) this.sendNow(m)
        this.opts.log(
          `connected to ${this.coordinator.httpUrl} as worker ${this.opts.name}; waiting for jobs`,
        )
        this.opts.onConnected?.(this.coordinator)
        this.resolveReady()
        return
      case 'heartbeat.interval':
        // The grid grew or shrank. Every worker hears this at once: a random first beat keeps them apart.
        if (this.heartbeat) this.startHeartbeat(msg.heartbeatMs, Math.random() * msg.heartbeatMs)
        return
      case 'job.assign':
        if (this.state !== 'ready') {
          const lease = { jobId: msg.job.jobId, attempt: msg.job.attempt }
          return this.sendNow({ type: 'job.release', lease, reason: `worker ${this.opts.name} is draining` })
        }
        this.opts.log(
          `job ${msg.job.jobId} (attempt ${msg.job.attempt}): ${msg.job.image} ${msg.job.script?.name ?? msg.job.command.join(' ')}`,
        )
        void this.executor.run(msg.job).then(() => this.afterJob())
        return
      case 'job.cancel':
        return this.executor.cancel(msg.lease, msg.reason)
      case 'job.ack':
        this.unacked.ack(msg.lease)
        return
      case 'job.refused':
        return this.refused(msg)
      case 'error':
        // The coordinator speaks another protocol version: it closes the socket, and this stops.
        if (msg.code === 'protocol_version') this.fatal = new GridError(msg.code, msg.message)
        // A coordinator of protocol 1 says no more than that the hello's `v` is wrong.
        else if (msg.code === 'bad_message' && !this.welcomed && /→ at v$/m.test(msg.message)) {
          this.fatal = new GridError('protocol_version', versionAdvice('1', PROTOCOL_VERSION))
        }
        this.lastRefusal = msg.message
        this.opts.log(`coordinator says: ${msg.code}: ${msg.message}`)
        return
    }
  }

  /**
   * The coordinator did not take a result. A transient refusal (it is busy, or failed to store
   * it) keeps the result: it goes again shortly, and after every welcome. A final one (the lease
   * is no longer this worker's, the receipt was refused) drops it: sending it again cannot help.
   */
  private refused(msg: Extract<CoordinatorMessage, { type: 'job.refused' }>): void {
    const job = `job ${msg.lease.jobId} (attempt ${msg.lease.attempt})`
    switch (this.unacked.refused(msg)) {
      case 'dropped':
        this.opts.log(
          `the coordinator refused the result of ${job}: ${msg.code}: ${msg.message}; dropping it`,
        )
        return void this.afterJob()
      case 'kept':
        return this.opts.log(
          `the coordinator could not take the result of ${job} yet (${msg.code}: ${msg.message}); sending it again in ${RESEND_MS / 1000} s`,
        )
      case 'unknown':
        return
    }
  }

  private report(msg: Extract<WorkerMessage, { type: 'job.started' | 'job.output' | 'job.result' }>): void {
    if (msg.type === 'job.result') {
      // The error text is not signed: a long one (a Docker message) is cut to what the coordinator takes.
      if (msg.error && msg.error.length > WORKER_LIMITS.text) {
        msg = { ...msg, error: `${msg.error.slice(0, WORKER_LIMITS.text - 3)}...` }
      }
      this.unacked.add(msg)
      this.opts.log(
        `job ${msg.lease.jobId}: ${msg.outcome}${msg.exitCode === null ? '' : ` (exit ${msg.exitCode})`}${msg.error ? `: ${msg.error}` : ''}`,
      )
    }
    if (this.welcomed) return this.sendNow(msg)
    if (msg.type === 'job.result') return // kept in unacked, resent after the next welcome
    this.outgoing.keep(msg)
  }

  /** Sends a message: at once before the welcome (the hello), paced after it. */
  private sendNow(msg: WorkerMessage): void {
    if (this.socket?.readyState !== WebSocket.OPEN) return
    if (!this.welcomed || !this.outgoing.send(msg)) this.write(JSON.stringify(msg))
  }

  private write(text: string): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(text)
  }

  /** Leases this worker still holds: jobs running, and jobs whose result awaits the coordinator's ack. */
  private held(): LeaseRef[] {
    const running = this.executor.leases()
    const keys = new Set(running.map(key))
    for (const lease of this.unacked.leases()) if (!keys.has(key(lease))) running.push(lease)
    return running
  }

  /** Beats every `ms`, the first after `firstMs`. */
  private startHeartbeat(ms: number, firstMs = ms): void {
    this.stopHeartbeat()
    this.sweeper ??= setInterval(() => {
      this.executor.sweep().then(
        (gone) => {
          if (gone.length)
            this.opts.log(`removed ${gone.length} stray container(s) of job(s) ${gone.join(', ')}`)
        },
        () => undefined,
      )
    }, SWEEP_MS)
    this.lastHeard = Date.now()
    const beat = () => {
      // A dropped link shows no error for minutes: a coordinator that answers no ping is gone.
      const silent = Date.now() - this.lastHeard
      if (silent > SILENT_BEATS * ms) return this.onSilent?.(SILENT_BEATS * ms)
      this.sendNow({ type: 'heartbeat', running: this.held() })
      if (this.socket?.readyState === WebSocket.OPEN) {
        this.socket.ping()
        this.outgoing.pinged()
      }
      this.heartbeat = setTimeout(beat, ms)
    }
    this.heartbeat = setTimeout(beat, firstMs)
  }

  private stopSweeper(): void {
    if (this.sweeper) clearInterval(this.sweeper)
    this.sweeper = undefined
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearTimeout(this.heartbeat)
    this.heartbeat = undefined
  }
}

/** How often the worker removes stray containers of its own. */
const SWEEP_MS = 30_000
