import type { ServerWebSocket } from 'bun'
import { assertNever, describe, GridError } from '../errors'
import {
  CloseCode,
  type CoordinatorMessage,
  otherVersion,
  parseFrame,
  PROTOCOL_VERSION,
  versionAdvice,
  WorkerMessage,
  type LeaseRef,
} from '../protocol/worker'
import type { WorkerView } from '../protocol/api'
import { escapeTerminal } from '../protocol/text'
import { formatBytes } from '../protocol/units'
import { SocketAllowance, TokenBucket } from './budget'
import { Heartbeats } from './heartbeats'
import type { Lifecycle, Verdict } from './lifecycle'
import { Observers, type Observer, type WorkerLink } from './observe'
import type { Clock, Settings } from './settings'
import { untilStored } from './outage-retry'
import { Outbox } from './outbox'
import type { Store } from './store'
import type { SocketData, Wake, WorkerConn } from './worker-conn'

type Result = Extract<WorkerMessage, { type: 'job.result' }>

export type { SocketData, Wake, WorkerConn } from './worker-conn'

/** Frames a socket may have waiting for the store before it counts as a flood. */
const MAX_PENDING_FRAMES = 512

/** The live worker sockets: hello, heartbeats, reports, silence. */
export class Hub {
  private readonly conns = new Map<string, WorkerConn>()
  /** What is sent to workers: once a turn per socket, or at once (errors, closes) after what was queued. */
  private readonly outbox = new Outbox()
  /** The intervals workers are told, and what their beats do. */
  readonly heartbeats: Heartbeats
  /** Turns a full disk into the error to send (set by the server; see disk.ts). */
  diskFull: ((err: unknown) => GridError | undefined) | undefined
  /** Hears workers join and leave (the log, the metrics). */
  observe: Observer = new Observers()
  /** Counts each frame read by its type, `invalid` when it does not parse (the metrics). */
  countFrame: (type: WorkerMessage['type'] | 'invalid') => void = () => undefined

  constructor(
    private readonly store: Store,
    private readonly lifecycle: Lifecycle,
    private readonly clock: Clock,
    private readonly settings: Settings,
    private readonly wake: Wake,
    private readonly log: (line: string) => void,
  ) {
    this.heartbeats = new Heartbeats(store, clock, settings)
  }

  /** Workers that have said hello, in connection order. */
  connected(): WorkerConn[] {
    return [...this.conns.values()]
  }

  /** The API view of the connected workers. */
  views(): WorkerView[] {
    return this.connected().map((c) => ({
      id: c.id,
      name: c.name,
      owner: c.owner.name,
      slots: c.slots,
      busy: c.active.size,
      cpus: c.cpus,
      memoryBytes: c.memoryBytes,
      docker: c.docker,
      images: c.policy.images,
      maxTimeoutMs: c.policy.maxTimeoutMs,
      workdirBytes: c.policy.workdirBytes,
      packages: c.policy.packages === true,
      connectedAt: new Date(c.connectedAt).toISOString(),
    }))
  }

  /** Sends a message to a connected worker; false when it is not connected. */
  send(workerId: string, msg: CoordinatorMessage): boolean {
    const conn = this.conns.get(workerId)
    if (!conn) return false
    this.outbox.send(conn.socket, JSON.stringify(msg))
    return true
  }

  /** A worker's name while it is connected here; its id otherwise (for the log). */
  nameOf(workerId: string): string {
    return this.conns.get(workerId)?.name ?? workerId
  }

  /** Tells the other coordinators of the grid that a worker connected here (set by the server). */
  onConnected: ((workerId: string) => void) | undefined

  /**
   * The worker connected to another coordinator of the grid: a socket of it still held here is
   * dead (it moved after losing this one), so it is closed now, not after its silence.
   */
  connectedElsewhere(workerId: string): void {
    const conn = this.conns.get(workerId)
    if (!conn) return
    this.forget(conn, CloseCode.replaced, 'connected to another coordinator')
    this.log(
      `worker ${conn.name} (${workerId}) connected to another coordinator; closing its old socket here`,
    )
    this.outbox.close(conn.socket, CloseCode.replaced, 'connected to another coordinator')
  }

  /** Whether the worker is connected to this coordinator. */
  has(workerId: string): boolean {
    return this.conns.has(workerId)
  }

  /** Forgets a lease on the live connection (the store already moved on). */
  release(workerId: string | null, jobId: string): void {
    const conn = workerId ? this.conns.get(workerId) : undefined
    conn?.active.delete(jobId)
    conn?.assignedHere.delete(jobId)
  }

  /**
   * Handles one frame from a worker socket; its budget is checked before the frame is even parsed.
   * A lease's frames are handled one after another in the order they came, so an output chunk
   * never overtakes the start it follows, nor a result the output before it (see `lanes`).
   */
  onFrame(ws: ServerWebSocket<SocketData>, raw: string | Buffer): void {
    if (ws.data.overBudget) return
    const now = this.clock.now()
    ws.data.allowance ??= new SocketAllowance(this.settings.socketBudget, now)
    if (!ws.data.allowance.admit(typeof raw === 'string' ? raw.length : raw.byteLength, now)) {
      return this.overBudget(ws)
    }
    const parsed = parseFrame(WorkerMessage, raw)
    this.countFrame(parsed.ok ? parsed.msg.type : 'invalid')
    if (!parsed.ok) {
      const theirs = ws.data.conn ? undefined : otherVersion(raw, 'hello')
      if (theirs === undefined) return this.refuse(ws, 'bad_message', parsed.error)
      return this.refuse(ws, 'protocol_version', versionAdvice(PROTOCOL_VERSION, theirs))
    }
    const msg = parsed.msg
    // Seen now, even if the frame waits (for the database) before it is handled.
    if (ws.data.conn) ws.data.conn.lastSeen = now
    ws.data.pending = (ws.data.pending ?? 0) + 1
    if (ws.data.pending > MAX_PENDING_FRAMES) return this.overBudget(ws)
    const lanes = (ws.data.lanes ??= new Map<string, Promise<void>>())
    const lane = 'lease' in msg ? `${msg.lease.jobId}:${msg.lease.attempt}` : ''
    const behind = lanes.get(lane) ?? Promise.resolve()
    // Before its hello is handled a lease's frame waits for it too (hello comes first), yet in its
    // lease's lane: the frames of that lease coming after the hello was handled keep behind it.
    const hello = ws.data.conn || lane === '' ? undefined : lanes.get('')
    const next = (hello ? Promise.all([behind, hello]) : behind).then(async () => {
      try {
        await this.handle(ws, msg)
      } catch (err) {
        // Never a broken chain: the lane's later frames must still be handled.
        this.log(`handling a frame of a worker socket failed: ${describe(err)}`)
      } finally {
        ws.data.pending = (ws.data.pending ?? 1) - 1
        if (lanes.get(lane) === next) lanes.delete(lane)
      }
    })
    lanes.set(lane, next)
  }

  private async handle(ws: ServerWebSocket<SocketData>, msg: WorkerMessage): Promise<void> {
    if (ws.data.overBudget) return
    if (msg.type !== 'hello' && !ws.data.conn) return this.refuse(ws, 'hello_first', 'send hello first')
    const err = await untilStored(ws, msg.type === 'heartbeat', this.store.health, () =>
      this.dispatch(ws, msg),
    )
    if (err === undefined) return
    const full = this.diskFull?.(err)
    if (!full) return this.refuse(ws, 'internal', describe(err))
    // Nothing was written. The worker reconnects, and resends an unacknowledged result after the welcome.
    this.refuse(ws, full.code, full.message)
    ws.close(CloseCode.goingAway, full.code)
  }

  /** A socket closed: the worker leaves; its leases live on until they expire or it returns. */
  onClose(ws: ServerWebSocket<SocketData>, code: number, reason: string): void {
    const conn = ws.data.conn
    if (!conn || this.conns.get(conn.id) !== conn) return
    this.forget(conn, code, reason)
    this.log(
      `worker ${conn.name} (${conn.id}) disconnected (${code}${reason ? ` ${escapeTerminal(reason)}` : ''})`,
    )
  }

  /** Closes sockets that have been silent too long (each as long as its heartbeat interval allows). */
  sweepSilent(): void {
    const now = this.clock.now()
    for (const conn of this.conns.values()) {
      const silentMs = this.heartbeats.silenceOf(conn)
      if (conn.lastSeen < now - silentMs) {
        this.log(`worker ${conn.name} silent for ${silentMs} ms; closing its socket`)
        this.forget(conn, CloseCode.silent, 'no heartbeat')
        this.outbox.close(conn.socket, CloseCode.silent, 'no heartbeat')
      }
    }
  }

  /** A worker leaves the hub: the grid's other workers may now beat more often. */
  private forget(conn: WorkerConn, code: number, reason: string): void {
    this.conns.delete(conn.id)
    this.observe.workerLeft({ ...linkOf(conn), close: { code, reason }, at: this.clock.now() })
    this.heartbeats.resize(this.conns.values(), this.conns.size)
  }

  /** Closes every worker socket (coordinator shutting down). */
  closeAll(): void {
    for (const conn of [...this.conns.values()]) {
      // Gone from the hub before its socket closes: the close handler must not report it again.
      this.conns.delete(conn.id)
      this.observe.workerLeft({
        ...linkOf(conn),
        close: { code: CloseCode.goingAway, reason: 'coordinator stopping' },
        at: this.clock.now(),
      })
      this.outbox.close(conn.socket, CloseCode.goingAway, 'coordinator stopping')
    }
    this.conns.clear()
  }

  private async dispatch(ws: ServerWebSocket<SocketData>, msg: WorkerMessage): Promise<void> {
    const conn = ws.data.conn
    if (conn) conn.lastSeen = this.clock.now()
    switch (msg.type) {
      case 'hello':
        return this.hello(ws, msg)
      case 'heartbeat':
        // A worker heartbeats at the interval it was told: a flood of them is not worth a query each.
        if (this.clock.now() - conn!.lastBeat < conn!.toldMs / 4) return
        return this.heartbeat(conn!, msg.running)
      case 'job.started':
        return this.started(conn!, msg.lease)
      case 'job.output':
        return this.lifecycle.output(conn!.id, msg)
      case 'job.result':
        return this.result(conn!, msg)
      case 'drain':
        conn!.draining = true
        this.log(`worker ${conn!.name} is draining: no new jobs for it`)
        return
      case 'job.release':
        await this.lifecycle.release(conn!.id, msg.lease, msg.reason)
        return this.wake()
      default:
        return assertNever(msg)
    }
  }

  private async hello(
    ws: ServerWebSocket<SocketData>,
    msg: Extract<WorkerMessage, { type: 'hello' }>,
  ): Promise<void> {
    if (ws.data.conn) return this.refuse(ws, 'hello_twice', 'hello was already sent on this socket')
    const now = this.clock.now()
    let publicKey: string | null
    try {
      const row = await this.store.workers.upsert(msg.workerId, ws.data.user.id, msg.name, now, msg.publicKey)
      publicKey = row.publicKey
    } catch (err) {
      if (!(err instanceof GridError)) throw err
      this.log(`refused worker ${msg.name} (${msg.workerId}): ${err.message}`)
      this.outbox.now(
        ws,
        JSON.stringify({ type: 'error', code: err.code, message: err.message } satisfies CoordinatorMessage),
      )
      ws.close(CloseCode.forbidden, err.code)
      return
    }
    const previous = this.conns.get(msg.workerId)
    if (previous) this.outbox.close(previous.socket, CloseCode.replaced, 'replaced by a newer connection')
    this.onConnected?.(msg.workerId)
    // The grid grows by one: the others may be told to beat less often first.
    this.heartbeats.resize(this.conns.values(), this.conns.size + (previous ? 0 : 1))
    const toldMs = this.heartbeats.toTell()
    const conn: WorkerConn = {
      assignedHere: new Set(),
      id: msg.workerId,
      publicKey,
      name: msg.name,
      version: msg.version,
      owner: ws.data.user,
      slots: msg.slots,
      cpus: msg.cpus,
      memoryBytes: msg.memoryBytes,
      docker: msg.docker,
      policy: msg.policy,
      connectedAt: now,
      lastSeen: now,
      active: new Set(),
      draining: false,
      lastBeat: now,
      toldMs,
      beatMs: toldMs,
      followsIntervals: msg.heartbeatUpdates === true,
      // A check (native Ed25519) costs some 45 µs: a worker whose jobs end at once may have
      // hundreds a second checked, and a hostile one cannot spend more than a few % of a core.
      checks: new TokenBucket(100 + 100 * msg.slots, 200 + 200 * msg.slots, now),
      socket: ws,
    }
    // The leases held before this hello, read before the worker can be given new ones: a job
    // assigned to it from now on is not one it could have lost.
    const heldBefore = await this.store.leases.leasesOf(conn.id)
    const running = new Set(msg.running.map((l) => `${l.jobId}#${l.attempt}`))
    // Its slots hold what it still runs from the start, so no pass fills them twice meanwhile.
    conn.active = new Set(
      heldBefore.filter((l) => running.has(`${l.jobId}#${l.attempt}`)).map((l) => l.jobId),
    )
    ws.data.conn = conn
    this.conns.set(conn.id, conn)
    this.observe.workerJoined({ ...linkOf(conn), at: now })
    ws.send(
      JSON.stringify({
        type: 'welcome',
        v: PROTOCOL_VERSION,
        workerId: conn.id,
        heartbeatMs: toldMs,
        budget: {
          messagesPerSecond: this.settings.socketBudget.messagesPerSecond,
          bytesPerSecond: this.settings.socketBudget.bytesPerSecond,
        },
      } satisfies CoordinatorMessage),
    )
    // Leases this worker holds but no longer runs (it restarted, or an assignment was lost on
    // the old socket) go back to the queue now rather than when they expire.
    for (const lease of heldBefore) {
      if (!running.has(`${lease.jobId}#${lease.attempt}`)) {
        await this.lifecycle.lost(
          conn.id,
          lease,
          `worker ${conn.name} reconnected without the job (it restarted?)`,
        )
      }
    }
    await this.heartbeat(conn, msg.running)
    this.log(
      `worker ${conn.name} (${conn.id}) of ${conn.owner.name} ready: ${conn.slots} slots, ${conn.cpus} CPUs, docker ${escapeTerminal(conn.docker)}, images ${escapeTerminal(conn.policy.images.join(' '))}, ${conn.policy.packages ? 'installs' : 'does not install'} Python packages`,
    )
    this.wake()
  }

  /**
   * A worker says a job started. The message carries nothing the coordinator believes, only its
   * arrival: on the socket the job was assigned on, the job started about now, and is billed from
   * now (an image pull before it is not). On a later socket (the worker, or the coordinator,
   * was away and the start waited in an outbox) it started at some time since its assignment that
   * the coordinator cannot know; it saw the lease held since the assignment, so it bills from
   * there, bounded by the worker's signed run time. Either way a bill is never more than the time
   * the coordinator saw pass since the assignment, and a late start cannot shrink it to nothing.
   */
  private async started(conn: WorkerConn, lease: LeaseRef): Promise<void> {
    const now = this.clock.now()
    // Assigned on this connection: the start is not late, and needs no read to know it.
    const here = conn.assignedHere.delete(lease.jobId)
    const assignedAt = here ? undefined : await this.store.deadlines.since(lease)
    const late = assignedAt !== undefined && assignedAt < conn.connectedAt
    const from = late ? assignedAt : now
    if (await this.store.leases.markRunning(lease, conn.id, now, this.settings.deadlineGraceMs, from)) {
      this.lifecycle.started(lease, conn.id, conn.name, from)
    }
  }

  /**
   * Takes a result, and answers it: `job.ack` when it is recorded (now or already before),
   * `job.refused` otherwise, saying whether sending it again later may help.
   */
  private async result(conn: WorkerConn, msg: Result): Promise<void> {
    let verdict: Verdict
    try {
      // The slot is freed by the lifecycle only when the result is accepted.
      verdict = await this.lifecycle.result(
        conn.id,
        msg,
        () => conn.checks.take(1, this.clock.now()),
        conn.publicKey,
      )
    } catch (err) {
      // A full disk is logged once by its handler, not once per result each worker resends.
      const full = this.diskFull?.(err)
      if (full) {
        verdict = { accepted: false, code: full.code, message: full.message, retry: true }
      } else {
        this.log(
          `taking the result of job ${msg.lease.jobId} from worker ${conn.name} failed: ${describe(err)}`,
        )
        verdict = { accepted: false, code: 'internal', message: describe(err), retry: true }
      }
    }
    const reply: CoordinatorMessage = verdict.accepted
      ? { type: 'job.ack', lease: msg.lease }
      : {
          type: 'job.refused',
          lease: msg.lease,
          code: verdict.code,
          message: verdict.message,
          retry: verdict.retry,
        }
    this.outbox.send(conn.socket, JSON.stringify(reply))
    if (verdict.accepted || verdict.requeued) this.wake()
  }

  /** A socket sent more than its budget: it is closed (4429), once, and its other frames go unread. */
  private overBudget(ws: ServerWebSocket<SocketData>): void {
    ws.data.overBudget = true
    const conn = ws.data.conn
    const b = this.settings.socketBudget
    const who = conn ? `worker ${conn.name} (${conn.id})` : `a worker socket of ${ws.data.user.name}`
    this.log(
      `${who} sent more than its budget of ${b.messagesPerSecond} messages and ${formatBytes(b.bytesPerSecond)} a second (bursts of ${b.burstMessages} and ${formatBytes(b.burstBytes)}); closing its socket`,
    )
    // Its leases stay: the worker may come back (more slowly) and report them.
    if (conn && this.conns.get(conn.id) === conn)
      this.forget(conn, CloseCode.overBudget, 'over the message budget')
    const message = 'this socket sent more messages or bytes than the coordinator allows'
    this.outbox.now(
      ws,
      JSON.stringify({ type: 'error', code: 'over_budget', message } satisfies CoordinatorMessage),
    )
    ws.close(CloseCode.overBudget, 'over the message budget')
  }

  /** Reconciles what the worker says it runs with what the store says it holds (see heartbeats.ts). */
  private heartbeat(conn: WorkerConn, running: LeaseRef[]): Promise<void> {
    return this.heartbeats.beat(conn, running, (msg) => this.send(conn.id, msg))
  }

  private refuse(ws: ServerWebSocket<SocketData>, code: string, message: string): void {
    this.outbox.now(ws, JSON.stringify({ type: 'error', code, message } satisfies CoordinatorMessage))
    if (
      code === 'bad_message' ||
      code === 'hello_first' ||
      code === 'hello_twice' ||
      code === 'protocol_version'
    ) {
      ws.close(CloseCode.protocolError, code)
    }
  }
}

/** Who a connection is, as observers hear of it. */
function linkOf(conn: WorkerConn): Omit<WorkerLink, 'at' | 'close'> {
  return { workerId: conn.id, name: conn.name, owner: conn.owner.name }
}
