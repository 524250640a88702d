import type { JobRow, UserRow } from '../db/schema'
import { assertNever, GridError } from '../errors'
import { filesExceedMemory, isFinal, type JobView, type SubmitJob } from '../protocol/api'
import type { LeaseRef, WorkerMessage } from '../protocol/worker'
import { newId } from '../protocol/ids'
import { pagesFor, WORKDIR_PAGE_BYTES } from '../protocol/placement'
import type { JobEvents } from './events'
import { costOf } from './pricing'
import { type Receipt, verifyReceipt } from '../protocol/receipt'
import { escapeTerminal } from '../protocol/text'
import type { Clock, Settings } from './settings'
import type { Ending, Store } from './store'

type Result = Extract<WorkerMessage, { type: 'job.result' }>
type Output = Extract<WorkerMessage, { type: 'job.output' }>

/** How the lifecycle reaches workers, without knowing about sockets. */
export interface WorkerLink {
  send(workerId: string, msg: { type: 'job.cancel'; lease: LeaseRef; reason: string }): boolean
  release(workerId: string | null, jobId: string): void
}

/** Every job transition: submit, start, output, result, cancel, lease expiry. */
export class Lifecycle {
  link: WorkerLink | undefined

  constructor(
    private readonly store: Store,
    private readonly events: JobEvents,
    private readonly clock: Clock,
    private readonly settings: Settings,
    private readonly log: (line: string) => void,
  ) {}

  /** Queues a validated submission for its owner, escrowing its maximum cost (402 if unaffordable). */
  submit(owner: UserRow, req: SubmitJob): JobRow {
    const script = req.script ? Buffer.from(req.script.contentBase64, 'base64') : null
    const inputs = req.inputs ? this.store.uploadOf(req.inputs.sha256, owner.id) : undefined
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
    return this.store.createJob({
      id: newId(),
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
      createdAt: this.clock.now(),
    })
  }

  /** The owner's job, or a 404 that does not reveal whether someone else's exists. */
  ownJob(owner: UserRow, id: string): JobRow {
    const job = this.store.job(id)
    if (!job || job.ownerId !== owner.id) {
      throw new GridError('job_not_found', `no job '${id}' among yours: 'gridx jobs' lists them`, {
        status: 404,
      })
    }
    return job
  }

  /** A job was assigned and its container started. */
  started(lease: LeaseRef, workerName: string): void {
    this.events.publish(lease.jobId, {
      type: 'state',
      state: 'running',
      attempt: lease.attempt,
      worker: workerName,
    })
  }

  /** Stores and fans out a chunk of output; stops the job when it passes the cap. */
  output(workerId: string, msg: Output): void {
    const data = Buffer.from(msg.dataBase64, 'base64')
    const chunk = { seq: msg.seq, stream: msg.stream, data }
    const r = this.store.appendOutput(msg.lease, workerId, chunk, this.settings.outputCapBytes)
    if (r === 'ok') {
      const { jobId, attempt } = msg.lease
      this.events.publish(jobId, { type: 'output', attempt, seq: msg.seq, stream: msg.stream, data })
    } else if (r === 'capped') {
      const cap = this.settings.outputCapBytes
      const at = this.clock.now()
      this.end(msg.lease, workerId, {
        state: 'failed',
        exitCode: null,
        outcome: 'output_limit',
        error: `the job wrote more than ${cap} bytes of output and was stopped`,
        at,
        cost: this.usedSoFar(msg.lease.jobId, at),
      })
      this.link?.send(workerId, { type: 'job.cancel', lease: msg.lease, reason: 'output limit' })
    }
  }

  /**
   * A worker reports how an attempt ended. Repeats and stale reports change nothing. Compute
   * the job used is paid for, whatever its exit; a failure of the platform costs nothing.
   */
  result(workerId: string, msg: Result): void {
    const at = this.clock.now()
    const job = this.store.job(msg.lease.jobId)
    if (!job) return
    const refused = this.checkReceipt(workerId, msg)
    if (refused) {
      this.log(
        `refused the result of job ${job.id} attempt ${msg.lease.attempt} from worker ${workerId}: ${refused}`,
      )
      return
    }
    const staged = msg.outputs ? this.store.stagedOutputs(msg.lease) : undefined
    if (msg.outputs && staged?.sha256 !== msg.outputs.sha256) {
      const how = { outcome: 'error', consumesAttempt: true, receipt: msg.receipt }
      return this.retry(msg.lease, "the job's /out files did not reach the coordinator", workerId, how)
    }
    const outputs = msg.outputs && staged ? this.measured(workerId, msg, staged) : undefined
    const cost = costOf(job.cpus, Math.min(msg.durationMs, job.timeoutMs), this.settings.price)
    const base = {
      exitCode: msg.exitCode,
      error: msg.error,
      at,
      cost,
      receipt: msg.receipt,
      usage: { wallMs: msg.durationMs, ...msg.usage },
      outputs,
    }
    switch (msg.outcome) {
      case 'exited':
        return this.end(msg.lease, workerId, {
          ...base,
          state: msg.exitCode === 0 ? 'succeeded' : 'failed',
          outcome: 'exited',
        })
      case 'timeout':
      case 'oom':
      case 'output_limit':
        return this.end(msg.lease, workerId, { ...base, state: 'failed', outcome: msg.outcome })
      case 'cancelled':
        return this.end(msg.lease, workerId, { ...base, state: 'cancelled', outcome: 'cancelled' })
      case 'error':
        if (msg.retryable) {
          const how = { outcome: 'error', consumesAttempt: true, receipt: msg.receipt }
          return this.retry(msg.lease, msg.error ?? 'worker error', workerId, how)
        }
        return this.end(msg.lease, workerId, {
          ...base,
          exitCode: null,
          state: 'failed',
          outcome: 'error',
          cost: 0,
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
    staged: NonNullable<ReturnType<Store['stagedOutputs']>>,
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

  /** Why a result's receipt is not acceptable, or undefined when it is signed by this worker's pinned key and matches the report. */
  private checkReceipt(workerId: string, msg: Result): string | undefined {
    const key = this.store.worker(workerId)?.publicKey
    if (!key) return 'the worker has no pinned key'
    const body = verifyReceipt(msg.receipt, key)
    if (!body) return 'the receipt signature does not verify against the worker key'
    const same =
      body.jobId === msg.lease.jobId &&
      body.attempt === msg.lease.attempt &&
      body.workerId === workerId &&
      body.outcome === msg.outcome &&
      body.exitCode === msg.exitCode &&
      body.durationMs === msg.durationMs &&
      body.outputsSha256 === (msg.outputs?.sha256 ?? null) &&
      (body.cpuMs ?? null) === msg.usage.cpuMs &&
      (body.peakMemoryBytes ?? null) === msg.usage.peakMemoryBytes
    return same ? undefined : 'the receipt does not match the reported result'
  }

  /** A draining worker gives a job back unfinished: it is requeued without counting as a failure. */
  release(workerId: string, lease: LeaseRef, reason: string): void {
    this.retry(lease, reason, workerId, { outcome: 'released', consumesAttempt: false })
  }

  /** A worker no longer runs a job it held (it restarted): the job goes back to the queue. */
  lost(workerId: string, lease: LeaseRef, reason: string): void {
    this.link?.release(workerId, lease.jobId)
    this.retry(lease, reason, workerId)
  }

  /** Cancels one of the owner's jobs; a running one is killed by its worker. */
  cancel(owner: UserRow, id: string): JobRow {
    const job = this.ownJob(owner, id)
    if (isFinal(job.state)) return job
    const now = this.clock.now()
    const before = this.store.cancel(id, now, (j) =>
      costOf(j.cpus, Math.min(now - (j.startedAt ?? now), j.timeoutMs), this.settings.price),
    )
    if (before?.workerId && (before.state === 'assigned' || before.state === 'running')) {
      this.link?.release(before.workerId, id)
      this.link?.send(before.workerId, {
        type: 'job.cancel',
        lease: { jobId: id, attempt: before.attempt },
        reason: 'cancelled by its owner',
      })
    }
    this.events.publish(id, { type: 'end' })
    return this.store.job(id)!
  }

  private usedSoFar(jobId: string, now: number): number {
    const job = this.store.job(jobId)
    if (!job?.startedAt) return 0
    return costOf(job.cpus, Math.min(now - job.startedAt, job.timeoutMs), this.settings.price)
  }

  /** Requeues every attempt whose lease ran out, and tells its holder to stop. */
  expireLeases(): number {
    const expired = this.store.expired(this.clock.now())
    for (const job of expired) {
      const lease = { jobId: job.id, attempt: job.attempt }
      this.link?.release(job.workerId, job.id)
      if (job.workerId) this.link?.send(job.workerId, { type: 'job.cancel', lease, reason: 'lease expired' })
      this.retry(lease, `lease expired on worker ${job.workerId ?? '?'}`)
    }
    return expired.length
  }

  private retry(
    lease: LeaseRef,
    reason: string,
    workerId?: string,
    how?: { outcome: string; consumesAttempt: boolean; receipt?: Receipt },
  ): void {
    const r = this.store.requeue(lease, reason, this.clock.now(), workerId, how)
    if (r === 'stale') return
    this.link?.release(workerId ?? this.store.job(lease.jobId)?.workerId ?? null, lease.jobId)
    this.log(
      `job ${lease.jobId} attempt ${lease.attempt}: ${escapeTerminal(reason)}; ${r === 'queued' ? 'requeued' : 'no attempts left'}`,
    )
    if (r === 'queued') {
      this.events.publish(lease.jobId, {
        type: 'state',
        state: 'queued',
        attempt: lease.attempt,
        worker: null,
      })
    } else {
      this.events.publish(lease.jobId, { type: 'end' })
    }
  }

  private end(lease: LeaseRef, workerId: string, ending: Ending): void {
    if (this.store.finish(lease, workerId, ending)) {
      this.link?.release(workerId, lease.jobId)
      this.events.publish(lease.jobId, { type: 'end' })
    } else {
      this.log(
        `ignored a report for job ${lease.jobId} attempt ${lease.attempt} from worker ${workerId}: that attempt is no longer theirs or has ended`,
      )
    }
  }
}

/** The API view of a job row. */
export function jobView(
  job: JobRow,
  ownerName: string,
  workerName: string | null,
  waiting: string | null = null,
): JobView {
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString())
  return {
    id: job.id,
    owner: ownerName,
    state: job.state,
    image: job.image,
    command: job.command,
    scriptName: job.scriptName,
    args: job.args,
    timeoutMs: job.timeoutMs,
    cpus: job.cpus,
    memoryBytes: job.memoryBytes,
    attempt: job.attempt,
    priority: job.priority,
    worker: workerName,
    waiting,
    exitCode: job.exitCode,
    outcome: job.outcome,
    error: job.error,
    inputs: job.inputsBytes === null ? null : { bytes: job.inputsBytes },
    outputs:
      job.outputsSha256 === null ? null : { bytes: job.outputsBytes ?? 0, files: job.outputFiles ?? 0 },
    usage:
      job.wallMs === null
        ? null
        : { wallMs: job.wallMs, cpuMs: job.cpuMs, peakMemoryBytes: job.peakMemoryBytes },
    maxCostMc: job.maxCost,
    costMc: job.cost,
    createdAt: new Date(job.createdAt).toISOString(),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
  }
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
