import { resolvePrefix } from './job-prefix'
import { assertNever, GridError } from '../errors'
import { filesExceedMemory, isFinal, type SubmitJob } from '../protocol/api'
import type { LeaseRef, WorkerMessage } from '../protocol/worker'
import { newArrayId, newId, newOrderedId } from '../protocol/ids'
import { pagesFor, WORKDIR_PAGE_BYTES } from '../protocol/placement'
import { normaliseRequirements } from '../protocol/requirements'
import { formatDuration } from '../protocol/units'
import type { JobEvents } from './events'
import { Observers, type Observer } from './observe'
import { attemptsExhausted, packageFault, workerFault } from './install-failure'
import { billedMs, costOf } from './pricing'
import { ACCEPTED, BUSY, receiptProblem, refused, type Verdict } from './result-check'
import { inlineSignatures, type SignatureCheck } from './receipt-checker'
import { escapeTerminal } from '../protocol/text'
import type { Clock, Settings } from './settings'
import type {
  DependentsSettled,
  Ending,
  JobLease,
  JobRow,
  NewJob,
  QueuedJob,
  Requeue,
  StagedOutputs,
  Store,
  UserRow,
} from './store'
import { planBatch } from './workflows'
import { WaitingSweep } from './waiting-sweep'
import { LeaseMemo } from './lease-memo'
import { DEPENDENCY_OUTCOME } from './store/workflow-rules'

export { jobView } from './job-view'
export type { Verdict } from './result-check'

type Result = Extract<WorkerMessage, { type: 'job.result' }>
type Output = Extract<WorkerMessage, { type: 'job.output' }>

/** How the lifecycle reaches workers, without knowing about sockets. */
export interface WorkerLink {
  send(workerId: string, msg: { type: 'job.cancel'; lease: LeaseRef; reason: string }): boolean
  release(workerId: string | null, jobId: string): void
}

/** Who hears of jobs entering and leaving the queue: the scheduler's index, and the grid. */
export interface QueueWatch {
  /** A job is queued (submitted, or requeued after an attempt). */
  queued(job: QueuedJob): void
  /** A job left the queue or ended without this coordinator assigning it (cancelled). */
  left(jobId: string): void
  /** An attempt ended: the job is no longer assigned or running. */
  stopped(jobId: string): void
}

/** Every job transition: submit, start, output, result, cancel, lease expiry. */
export class Lifecycle {
  link: WorkerLink | undefined
  watch: QueueWatch | undefined
  /** Hears every transition this coordinator makes (the log, the metrics). */
  observe: Observer = new Observers()
  /** Checks results' receipt signatures (the server gives its receipt thread; inline otherwise). */
  signatures: SignatureCheck = inlineSignatures
  /** The attempts assigned here, so their results need no read (the scheduler tells of each). */
  readonly leases = new LeaseMemo()
  /**
   * The leader's sweep of jobs still waiting whose dependencies ended where no one settled them
   * (the coordinator that ended one went down, or a submission raced its ending): `run` each
   * sweep period, `restart` when this coordinator starts to lead.
   */
  readonly waiting: WaitingSweep

  constructor(
    private readonly store: Store,
    private readonly events: JobEvents,
    private readonly clock: Clock,
    private readonly settings: Settings,
    private readonly log: (line: string) => void,
  ) {
    this.waiting = new WaitingSweep(store, clock, (settled) => this.announce(settled))
  }

  /** Asks the scheduler for a pass (set by the server): jobs released from waiting can start. */
  wake: (() => void) | undefined

  /** Queues a validated submission for its owner, escrowing its maximum cost (402 if unaffordable). */
  async submit(owner: UserRow, req: SubmitJob): Promise<JobRow> {
    const row = await this.store.queue.create({ id: this.newJobId(), ...(await this.draft(owner, req)) })
    this.queued(row, owner)
    return row
  }

  /**
   * Queues an array (`array`) or a job that waits for others (`after`) in one transaction,
   * escrowing every job (402 with the array's total); returns the jobs made, by index.
   */
  async submitBatch(owner: UserRow, req: SubmitJob): Promise<JobRow[]> {
    const plan = await planBatch(this.store, owner, req, this.settings.maxArray)
    const draft = await this.draft(owner, req)
    const arrayId = plan.array ? newArrayId() : null
    const news = (plan.array?.indexes ?? [null]).map((index) => ({
      ...draft,
      id: this.newJobId(),
      arrayId,
      arrayIndex: index,
      arrayCap: plan.array?.cap ?? null,
    }))
    const rows = await this.store.workflows.create(news, plan.after)
    if (plan.after) this.leases.waitedFor(plan.after.ids)
    for (const row of rows) this.queued(row, owner)
    return rows
  }

  private newJobId(): string {
    // One coordinator per SQLite file: its ids may follow time (index locality); on a shared
    // database several coordinators make ids at once, and random ones cannot collide.
    return this.store.engine === 'sqlite' ? newOrderedId(this.clock.now()) : newId()
  }

  /** A new job entered the queue: the index hears of it (unless it waits for others), and the log. */
  private queued(row: JobRow, owner: UserRow): void {
    if (!row.held) this.watch?.queued(withoutScript(row))
    this.observe.transition({
      jobId: row.id,
      attempt: row.attempt,
      ownerId: owner.id,
      workerId: null,
      from: null,
      to: 'queued',
      reason: row.held ? 'waits for its dependencies' : null,
      at: row.createdAt,
    })
  }

  /** A submission's job row, checked, without its id. */
  private async draft(owner: UserRow, req: SubmitJob): Promise<Omit<NewJob, 'id'>> {
    const script = req.script ? Buffer.from(req.script.contentBase64, 'base64') : null
    const inputs = req.inputs ? await this.store.files.uploadOf(req.inputs.sha256, owner.id) : undefined
    if (req.inputs && !inputs) {
      throw new GridError(
        'no_upload',
        `no upload ${req.inputs.sha256} among yours: upload the input archive first (POST /api/uploads)`,
        { status: 400 },
      )
    }
    // The job's files are copied into its working directory, a tmpfs within its memory limit.
    const tooBig = filesExceedMemory((inputs?.bytes ?? 0) + (script?.length ?? 0), req.memoryBytes)
    if (tooBig) throw tooBig
    return {
      ownerId: owner.id,
      image: req.image,
      command: req.command,
      scriptName: req.script?.name ?? null,
      script,
      args: req.args,
      timeoutMs: req.timeoutMs,
      cpus: req.cpus,
      memoryBytes: req.memoryBytes,
      maxAttempts: this.settings.maxAttempts,
      maxCost: costOf(req.cpus, req.timeoutMs, this.settings.price),
      priority: req.priority,
      inputsSha256: req.inputs?.sha256 ?? null,
      inputsBytes: inputs?.bytes ?? null,
      filesBytes: filesRoom(inputs, script),
      // The schema checked them already; stored canonical, so equal needs look equal to every worker.
      requirements: normaliseRequirements(req.requirements ?? []),
      requiresPython: req.requiresPython?.trim() ?? null,
      createdAt: this.clock.now(),
      // Job environment, name and labels (issue 17): the schema checked them.
      name: req.name ?? null,
      labels: req.labels ?? {},
      env: req.env ?? {},
    }
  }

  /**
   * The owner's job by id or by a unique prefix of its id (`resolvePrefix`: 409 when ambiguous),
   * or a 404 that does not reveal whether someone else's exists.
   */
  async ownJob(owner: UserRow, id: string): Promise<JobRow> {
    let job = await this.store.queue.job(id)
    if (!job || job.ownerId !== owner.id) {
      // Only on a miss: a whole id costs one lookup by key, as before.
      const full = await resolvePrefix(this.store.queue, owner.id, id)
      job = full === undefined ? undefined : await this.store.queue.job(full)
    }
    if (!job || job.ownerId !== owner.id) {
      throw new GridError('job_not_found', `no job '${id}' among yours: 'gridx jobs' lists them`, {
        status: 404,
      })
    }
    return job
  }

  /** A job was assigned and its container started; it is billed from `startedAt`. */
  started(lease: LeaseRef, workerId: string, workerName: string, startedAt: number): void {
    this.leases.started(lease, startedAt)
    this.observe.transition({
      jobId: lease.jobId,
      attempt: lease.attempt,
      ownerId: null,
      workerId,
      from: 'assigned',
      to: 'running',
      reason: null,
      at: this.clock.now(),
    })
    this.events.publish(lease.jobId, {
      type: 'state',
      state: 'running',
      attempt: lease.attempt,
      worker: workerName,
    })
  }

  /** Stores and fans out a chunk of output; stops the job when it passes the cap. */
  async output(workerId: string, msg: Output): Promise<void> {
    // The schema let through only strict base64: this decodes exactly what the worker sent.
    const data = Buffer.from(msg.dataBase64, 'base64')
    const chunk = { seq: msg.seq, stream: msg.stream, data }
    const r = await this.store.leases.appendOutput(msg.lease, workerId, chunk, this.settings.outputCapBytes)
    if (r === 'ok') {
      const { jobId, attempt } = msg.lease
      this.events.publish(jobId, { type: 'output', attempt, seq: msg.seq, stream: msg.stream, data })
    } else if (r === 'capped') {
      const cap = this.settings.outputCapBytes
      const at = this.clock.now()
      const job = (await this.store.queue.job(msg.lease.jobId))!
      await this.end(
        msg.lease,
        workerId,
        {
          state: 'failed',
          exitCode: null,
          outcome: 'output_limit',
          error: `the job wrote more than ${cap} bytes of output and was stopped`,
          at,
          ...(await this.bill(job, at)),
        },
        job,
      )
      this.link?.send(workerId, { type: 'job.cancel', lease: msg.lease, reason: 'output limit' })
    }
  }

  /**
   * A worker reports how an attempt ended. Compute the job used is paid for, whatever its exit,
   * for the time the coordinator saw pass (see `bill`); a failure of the platform costs nothing.
   * A repeat of a result already taken is accepted again and changes nothing. The cheap checks
   * (whose lease, a repeat) come before the signature's, which costs milliseconds and is made
   * only when `mayCheck` allows (the worker's budget of checks).
   */
  async result(
    workerId: string,
    msg: Result,
    mayCheck: () => boolean = () => true,
    publicKey?: string | null,
  ): Promise<Verdict> {
    const known = this.leases.take(msg.lease, workerId)
    if (known) {
      const verdict = await this.check(workerId, msg, mayCheck, publicKey, known)
      if (verdict.accepted || verdict.code !== LEASE_NOT_HELD) return verdict
      // What this coordinator knew was stale (another one ended, requeued or gave the attempt away
      // meanwhile): answered as the row says, e.g. a repeat of a result taken there is acknowledged.
    }
    return await this.check(
      workerId,
      msg,
      mayCheck,
      publicKey,
      await this.store.queue.jobLease(msg.lease.jobId),
    )
  }

  private async check(
    workerId: string,
    msg: Result,
    mayCheck: () => boolean,
    publicKey: string | null | undefined,
    job: JobLease | undefined,
  ): Promise<Verdict> {
    const at = this.clock.now()
    const { lease } = msg
    if (!job) return refused('unknown_job', `there is no job ${lease.jobId}`)
    const live = job.attempt === lease.attempt && job.workerId === workerId && !isFinal(job.state)
    // A live attempt that started began then (the row says so), and has ended with no receipt.
    // Otherwise one read of the attempt gives both: the receipt it ended with, and when it began.
    let since: number | undefined = live && job.startedAt !== null ? job.startedAt : undefined
    if (since === undefined) {
      const attempt = (await this.store.leases.attemptsOf(job.id)).find((a) => a.attempt === lease.attempt)
      if (
        attempt?.endedAt != null &&
        attempt.receipt === msg.receipt.body &&
        attempt.signature === msg.receipt.signature
      )
        return ACCEPTED
      since = attempt ? (attempt.startedAt ?? attempt.assignedAt) : undefined
    }
    // Not logged: the worker is told why, and a flood of them must not flood the log.
    if (!live) {
      return refused(
        LEASE_NOT_HELD,
        `attempt ${lease.attempt} of job ${job.id} is no longer this worker's or has ended (it was cancelled, timed out or given to another worker): its result earns nothing`,
      )
    }
    if (!mayCheck()) return BUSY
    const key = publicKey === undefined ? (await this.store.workers.get(workerId))?.publicKey : publicKey
    const bad = await receiptProblem(key, workerId, msg, this.signatures)
    if (bad) {
      this.log(`refused the result of job ${job.id} attempt ${lease.attempt} from worker ${workerId}: ${bad}`)
      return refused('bad_receipt', `the result was refused: ${bad}`)
    }
    const staged = msg.outputs ? await this.store.leases.stagedOutputs(lease) : undefined
    if (msg.outputs && staged?.sha256 !== msg.outputs.sha256) {
      const reason = "the job's /out files did not reach the coordinator"
      if (!(await this.retry(lease, reason, workerId, { outcome: 'error', consumesAttempt: true })))
        return notHeld(lease)
      const message = `${reason} (upload them before the result); the job was requeued`
      return { accepted: false, code: 'outputs_missing', message, retry: false, requeued: true }
    }
    const outputs = msg.outputs && staged ? this.measured(workerId, msg, staged) : undefined
    const end = (ending: Ending) => this.end(lease, workerId, ending, job)
    const bill = this.billSince(job, since, at, msg.durationMs)
    const base = {
      exitCode: msg.exitCode,
      error: msg.error,
      at,
      ...bill,
      receipt: msg.receipt,
      usage: { wallMs: msg.durationMs, ...msg.usage },
      outputs,
    }
    switch (msg.outcome) {
      case 'exited':
        return end({
          ...base,
          state: msg.exitCode === 0 ? 'succeeded' : 'failed',
          outcome: 'exited',
        })
      case 'timeout':
      case 'oom':
      case 'output_limit':
        return end({ ...base, state: 'failed', outcome: msg.outcome })
      case 'cancelled':
        return end({ ...base, state: 'cancelled', outcome: 'cancelled' })
      case 'install_failed': {
        // The job never started: whoever's fault it was, nothing is billed.
        const name = (await this.store.workers.get(workerId))?.name ?? workerId
        if (msg.retryable) {
          const requeued = await this.retry(lease, workerFault(name, msg.error), workerId, {
            outcome: 'install_failed',
            consumesAttempt: true,
            receipt: msg.receipt,
            finalOutcome: 'install_failed',
            finalError: (n) => attemptsExhausted(name, msg.error, n),
            avoidWorker: true,
          })
          return requeued ? ACCEPTED : notHeld(lease)
        }
        return end({
          ...base,
          exitCode: null,
          error: packageFault(name, msg.error),
          state: 'failed',
          outcome: 'install_failed',
          cost: 0,
          billedMs: 0,
        })
      }
      case 'error':
        if (msg.retryable) {
          const how = { outcome: 'error', consumesAttempt: true, receipt: msg.receipt }
          return (await this.retry(lease, msg.error ?? 'worker error', workerId, how))
            ? ACCEPTED
            : notHeld(lease)
        }
        return end({
          ...base,
          exitCode: null,
          state: 'failed',
          outcome: 'error',
          cost: 0,
          billedMs: 0,
        })
      default:
        return assertNever(msg.outcome)
    }
  }

  /**
   * A job's /out figures as the coordinator counted them in the archive it stored; the worker's
   * claim is only compared, and a difference logged.
   */
  private measured(
    workerId: string,
    msg: Result,
    staged: StagedOutputs,
  ): { sha256: string; bytes: number; files: number } {
    const claim = msg.outputs!
    // Archives staged before the coordinator counted them have only the claim.
    const seen = {
      sha256: staged.sha256,
      bytes: staged.dataBytes ?? claim.bytes,
      files: staged.files ?? claim.files,
    }
    if (seen.bytes !== claim.bytes || seen.files !== claim.files) {
      this.log(
        `job ${msg.lease.jobId} attempt ${msg.lease.attempt}: worker ${workerId} reported ${claim.files} /out file(s) of ${claim.bytes} bytes, the stored archive holds ${seen.files} of ${seen.bytes} bytes; recorded what was stored`,
      )
    }
    return seen
  }

  /**
   * What an attempt is billed now: the worker's claim (none for the coordinator's own endings),
   * capped by the time the coordinator saw pass since the attempt began and by the timeout.
   */
  private async bill(
    job: Pick<JobRow, 'id' | 'attempt' | 'cpus' | 'timeoutMs'>,
    now: number,
    claimedMs?: number,
  ): Promise<{ cost: number; billedMs: number }> {
    const since = await this.store.deadlines.since({ jobId: job.id, attempt: job.attempt })
    return this.billSince(job, since, now, claimedMs)
  }

  /** `bill` from when the attempt began (undefined: it never did, and costs nothing). */
  private billSince(
    job: Pick<JobRow, 'cpus' | 'timeoutMs'>,
    since: number | undefined,
    now: number,
    claimedMs?: number,
  ): { cost: number; billedMs: number } {
    if (since === undefined) return { cost: 0, billedMs: 0 }
    const ms = billedMs(job, since, now, claimedMs)
    return { cost: costOf(job.cpus, ms, this.settings.price), billedMs: ms }
  }

  /** A draining worker gives a job back unfinished: it is requeued without counting as a failure. */
  async release(workerId: string, lease: LeaseRef, reason: string): Promise<void> {
    await this.retry(lease, reason, workerId, { outcome: 'released', consumesAttempt: false })
  }

  /** A worker no longer runs a job it held (it restarted): the job goes back to the queue. */
  async lost(workerId: string, lease: LeaseRef, reason: string): Promise<void> {
    this.link?.release(workerId, lease.jobId)
    await this.retry(lease, reason, workerId)
  }

  /** Cancels one of the owner's jobs; a running one is killed by its worker. */
  async cancel(owner: UserRow, given: string): Promise<JobRow> {
    const job = await this.ownJob(owner, given)
    if (isFinal(job.state)) return job
    const id = job.id
    const now = this.clock.now()
    // What the cancel settles, read in its transaction: the log and the metrics say it too.
    let settled = 0
    const before = await this.store.leases.cancel(id, now, (j, since) => {
      const bill = this.billSince(j, since, now)
      settled = bill.cost
      return bill
    })
    if (before) {
      this.leases.drop(id)
      this.watch?.left(id)
      this.observe.transition({
        jobId: id,
        attempt: before.attempt,
        ownerId: owner.id,
        workerId: before.workerId,
        from: before.state,
        to: 'cancelled',
        reason: 'cancelled by its owner',
        outcome: 'cancelled',
        ranMs: before.startedAt === null ? undefined : Math.max(0, now - before.startedAt),
        // Billed only when it was running (as the store saw it in the run that committed: one
        // that lost a lock conflict ran again, maybe after the job had moved on).
        costMc: before.state === 'running' ? settled : 0,
        at: now,
      })
    }
    if (before?.workerId && (before.state === 'assigned' || before.state === 'running')) {
      this.link?.release(before.workerId, id)
      this.link?.send(before.workerId, {
        type: 'job.cancel',
        lease: { jobId: id, attempt: before.attempt },
        reason: 'cancelled by its owner',
      })
    }
    this.events.publish(id, { type: 'end' })
    if (before) await this.settleDependents(id, before.hasDependents)
    return (await this.store.queue.job(id))!
  }

  /**
   * A job ended: the jobs waiting for it start, or (an `--after` whose dependency failed) are
   * cancelled, refunded, and so on down the chain. `has` is its row's flag when known: false
   * (nearly every job) costs nothing; undefined reads the row.
   */
  private async settleDependents(jobId: string, has: boolean | undefined): Promise<void> {
    if (has === false) return
    if (has === undefined && !(await this.store.queue.job(jobId))?.hasDependents) return
    this.announce(await this.store.workflows.settleDependents([jobId], this.clock.now()))
  }

  private announce(settled: DependentsSettled): void {
    const at = this.clock.now()
    for (const job of settled.released) this.watch?.queued(job)
    for (const c of settled.cancelled) {
      this.watch?.left(c.id)
      this.observe.transition({
        jobId: c.id,
        attempt: 0,
        ownerId: c.ownerId,
        workerId: null,
        from: 'queued',
        to: 'cancelled',
        reason: c.reason,
        outcome: DEPENDENCY_OUTCOME,
        at,
      })
      this.events.publish(c.id, { type: 'end' })
    }
    if (settled.released.length > 0) this.wake?.()
  }

  /** Requeues every attempt whose lease ran out, and tells its holder to stop. */
  async expireLeases(): Promise<number> {
    const expired = await this.store.leases.expired(this.clock.now())
    for (const job of expired) {
      const lease = { jobId: job.id, attempt: job.attempt }
      this.link?.release(job.workerId, job.id)
      if (job.workerId) this.link?.send(job.workerId, { type: 'job.cancel', lease, reason: 'lease expired' })
      await this.retry(lease, `lease expired on worker ${job.workerId ?? '?'}`)
    }
    return expired.length
  }

  /**
   * Ends every attempt past its deadline, whatever its worker says in its heartbeats. A job
   * running past its timeout plus the grace ends as `timeout`, billed in the same transaction
   * its timeout or the time the coordinator saw it run, whichever is less; one assigned but never started within its timeout plus the start allowance is
   * requeued as a loss of the platform. Either way its worker is told to kill it.
   */
  async expireDeadlines(): Promise<number> {
    const now = this.clock.now()
    const overdue = await this.store.deadlines.overdue(now)
    for (const job of overdue) {
      const lease = { jobId: job.id, attempt: job.attempt }
      const workerId = job.workerId ?? ''
      this.link?.send(workerId, { type: 'job.cancel', lease, reason: 'deadline passed' })
      if (job.state === 'running') {
        const limit = formatDuration(job.timeoutMs)
        this.log(
          `job ${job.id} attempt ${job.attempt}: past its ${limit} timeout with no result; ended as timeout`,
        )
        await this.end(
          lease,
          workerId,
          {
            state: 'failed',
            exitCode: null,
            outcome: 'timeout',
            error: `the job ran past its ${limit} timeout and its worker did not report an end, so the coordinator stopped it`,
            at: now,
            // Never more than the coordinator saw it run: a deadline moved for an upload, or a
            // start it learned of late, must not bill time that did not pass.
            ...(await this.bill(job, now)),
          },
          job,
        )
      } else {
        this.link?.release(job.workerId, job.id)
        const allowance = formatDuration(job.timeoutMs + this.settings.startAllowanceMs)
        await this.retry(
          lease,
          `worker ${workerId} did not start the job within ${allowance} of its assignment`,
        )
      }
    }
    return overdue.length
  }

  /** Requeues (or, out of attempts, fails) the attempt; false when it was no longer held (stale). */
  private async retry(lease: LeaseRef, reason: string, workerId?: string, how?: Requeue): Promise<boolean> {
    // Off the hot path: one read says what the transition is from, for the log and the metrics.
    const before = await this.store.queue.job(lease.jobId)
    const at = this.clock.now()
    const r = await this.store.leases.requeue(lease, reason, at, workerId, how)
    if (r === 'stale') return false
    this.leases.drop(lease.jobId)
    if (before) {
      this.observe.transition({
        jobId: lease.jobId,
        attempt: lease.attempt,
        ownerId: before.ownerId,
        workerId: workerId ?? before.workerId,
        from: before.state,
        to: r === 'queued' ? 'queued' : 'failed',
        reason,
        outcome: r === 'queued' ? undefined : (how?.finalOutcome ?? 'lost'),
        ranMs: before.startedAt === null ? undefined : Math.max(0, at - before.startedAt),
        at,
      })
    }
    this.watch?.stopped(lease.jobId)
    if (r === 'queued') {
      const row = await this.store.queue.job(lease.jobId)
      if (row?.state === 'queued') this.watch?.queued(withoutScript(row))
    }
    this.link?.release(workerId ?? (await this.store.queue.job(lease.jobId))?.workerId ?? null, lease.jobId)
    this.log(
      `job ${lease.jobId} attempt ${lease.attempt}: ${escapeTerminal(reason)}; ${r === 'queued' ? 'requeued' : 'no attempts left'}`,
    )
    if (r === 'queued') {
      this.events.publish(lease.jobId, {
        type: 'state',
        state: 'queued',
        attempt: lease.attempt,
        worker: null,
        reason,
      })
    } else {
      this.events.publish(lease.jobId, { type: 'end' })
      await this.settleDependents(lease.jobId, before?.hasDependents)
    }
    return true
  }

  /** Ends an attempt, and the job, as `ending` says; `job` is its row as read before. */
  private async end(
    lease: LeaseRef,
    workerId: string,
    ending: Ending,
    job: Pick<JobRow, 'state'> & Partial<Pick<JobRow, 'ownerId' | 'startedAt' | 'hasDependents'>>,
  ): Promise<Verdict> {
    if (await this.store.leases.finish(lease, workerId, ending)) {
      this.leases.drop(lease.jobId)
      this.observe.transition({
        jobId: lease.jobId,
        attempt: lease.attempt,
        ownerId: job.ownerId ?? null,
        workerId,
        from: job.state,
        to: ending.state,
        reason: ending.error,
        outcome: ending.outcome,
        ranMs: job.startedAt == null ? undefined : Math.max(0, ending.at - job.startedAt),
        costMc: ending.cost,
        at: ending.at,
      })
      this.watch?.stopped(lease.jobId)
      this.link?.release(workerId, lease.jobId)
      this.events.publish(lease.jobId, { type: 'end' })
      // Checked here, not in the call: the result path makes no promise for the jobs nobody waits for.
      if (job.hasDependents !== false) await this.settleDependents(lease.jobId, job.hasDependents)
      return ACCEPTED
    }
    this.log(
      `ignored a report for job ${lease.jobId} attempt ${lease.attempt} from worker ${workerId}: that attempt is no longer theirs or has ended`,
    )
    return notHeld(lease)
  }
}

/** The code of a result refused because its attempt is no longer the worker's (or has ended). */
const LEASE_NOT_HELD = 'lease_not_held'

/** A result refused as its attempt's ending, or requeue, found it no longer the worker's. */
function notHeld(lease: LeaseRef): Verdict {
  return refused(LEASE_NOT_HELD, `attempt ${lease.attempt} of job ${lease.jobId} is no longer this worker's`)
}

/**
 * The most room a job's files take in its working directory, a tmpfs that rounds each file up to
 * a 4 KiB page (directories take none): the input archive (more than its files' bytes), a page
 * per file, and the script. The worker counts exactly before it starts the job; this never says less.
 */
function filesRoom(inputs: { bytes: number; files: number } | undefined, script: Buffer | null): number {
  const inputsRoom = inputs ? inputs.bytes + inputs.files * WORKDIR_PAGE_BYTES : 0
  return inputsRoom + (script ? pagesFor(script.length) : 0)
}

/** A job row as the queue index keeps it: scripts can be megabytes. */
function withoutScript(row: JobRow): QueuedJob {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- dropped on purpose
  const { script, ...rest } = row
  return rest
}
