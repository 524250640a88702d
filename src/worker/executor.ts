import { createHash, type Hash } from 'node:crypto'
import { describe } from '../errors'
import type { Receipt, ReceiptBody } from '../protocol/receipt'
import { formatDuration } from '../protocol/units'
import type { JobSpec, LeaseRef, Outcome, WorkerMessage } from '../protocol/worker'
import { OutputBatcher } from './output'
import type { ContainerRuntime, RunningContainer } from './runtime'

/** The working directory of every job inside its container. */
export const JOB_WORKDIR = '/gridx/job'

type Report = Extract<WorkerMessage, { type: 'job.started' | 'job.output' | 'job.result' }>

interface Running {
  lease: LeaseRef
  /** Why the container is being stopped; `abandoned` means no result is reported (handed back). */
  stop: 'timeout' | 'cancelled' | 'abandoned' | undefined
  container: RunningContainer | undefined
}

interface Ending {
  outcome: Outcome
  exitCode: number | null
  error: string | null
  retryable: boolean
}

/** Runs jobs in containers: image, start, live output, timeout, cancel, signed result, removal. */
export class Executor {
  private readonly running = new Map<string, Running>()
  private readonly images = new Map<string, Promise<boolean>>()

  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly workerId: string,
    private readonly sign: (body: ReceiptBody) => Receipt,
    private readonly report: (msg: Report) => void,
    private readonly log: (line: string) => void,
  ) {}

  /** Leases of the jobs running now (heartbeats carry them). */
  leases(): LeaseRef[] {
    return [...this.running.values()].map((r) => r.lease)
  }

  /**
   * Removes this worker's containers that no running job owns: ones whose creation finished
   * after the worker was killed, or whose removal failed. Runs now and then while idle slots exist.
   */
  async sweep(): Promise<string[]> {
    // Jobs still being set up may not have a container yet; a container created for them is theirs.
    const keep = new Set(this.running.keys())
    return this.runtime.removeLeftovers(this.workerId, keep)
  }

  /** How many jobs run now. */
  get busy(): number {
    return this.running.size
  }

  /** Stops a job's container (cancelled by its owner, or its lease is no longer ours). */
  cancel(lease: LeaseRef, reason: string): void {
    this.stop(lease, 'cancelled', reason)
  }

  /** Stops a job's container without reporting a result: the job was handed back to the queue. */
  abandon(lease: LeaseRef): void {
    this.stop(lease, 'abandoned', 'handed back to the coordinator')
  }

  private stop(lease: LeaseRef, why: 'cancelled' | 'abandoned', reason: string): void {
    const r = this.running.get(lease.jobId)
    if (!r || r.lease.attempt !== lease.attempt) return
    this.log(`job ${lease.jobId}: stopping (${reason})`)
    r.stop ??= why
    void r.container?.kill()
  }

  /** Runs one job to its end; never throws (failures become results). */
  async run(job: JobSpec): Promise<void> {
    const lease = { jobId: job.jobId, attempt: job.attempt }
    if (this.running.has(job.jobId)) return
    const entry: Running = { lease, stop: undefined, container: undefined }
    this.running.set(job.jobId, entry)
    const digests: Record<'stdout' | 'stderr', Hash> = {
      stdout: createHash('sha256'),
      stderr: createHash('sha256'),
    }
    const batcher = new OutputBatcher((stream, seq, data) =>
      this.report({ type: 'job.output', lease, seq, stream, dataBase64: data.toString('base64') }),
    )
    // Billed time runs from the container's start to its exit: pulls and set-up are not the job's.
    let startedAt: number | undefined
    let endedAt: number | undefined
    const finish = (end: Ending) => {
      batcher.flush()
      if (entry.stop === 'abandoned') return
      const durationMs = startedAt === undefined ? 0 : Math.round((endedAt ?? performance.now()) - startedAt)
      const receipt = this.sign({
        v: 1,
        jobId: job.jobId,
        attempt: job.attempt,
        workerId: this.workerId,
        outcome: end.outcome,
        exitCode: end.exitCode,
        stdoutSha256: digests.stdout.digest('hex'),
        stderrSha256: digests.stderr.digest('hex'),
        outputsSha256: null,
        durationMs,
        cpus: job.cpus,
        memoryBytes: job.memoryBytes,
        finishedAt: new Date().toISOString(),
      })
      this.report({ type: 'job.result', lease, durationMs, receipt, ...end })
    }
    let timeout: ReturnType<typeof setTimeout> | undefined
    try {
      if (!(await this.imageReady(job.image))) {
        return finish({
          outcome: 'error',
          exitCode: null,
          retryable: false,
          error: `image '${job.image}' is not on this worker and could not be pulled: use --image with an image the worker has, or ask its owner to pull it`,
        })
      }
      if (entry.stop) return finish({ outcome: 'cancelled', exitCode: null, retryable: false, error: null })
      const files = job.script
        ? [{ name: job.script.name, data: Buffer.from(job.script.contentBase64, 'base64') }]
        : []
      const cmd = job.script ? ['python3', '-u', job.script.name, ...job.args] : [...job.command, ...job.args]
      entry.container = await this.runtime.start(
        {
          name: `gridx-${job.jobId}-${job.attempt}`,
          image: job.image,
          cmd,
          env: [
            'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
            `HOME=${JOB_WORKDIR}`,
            'LANG=C.UTF-8',
            'PYTHONUNBUFFERED=1',
            `GRIDX_JOB_ID=${job.jobId}`,
          ],
          workdir: JOB_WORKDIR,
          files,
          labels: {
            'gridx.job': job.jobId,
            'gridx.attempt': String(job.attempt),
            'gridx.worker': this.workerId,
          },
          cpus: job.cpus,
          memoryBytes: job.memoryBytes,
        },
        (stream, data) => {
          digests[stream].update(data)
          batcher.push(stream, data)
        },
      )
      startedAt = performance.now()
      this.report({ type: 'job.started', lease })
      if (entry.stop) void entry.container.kill()
      timeout = setTimeout(() => {
        entry.stop ??= 'timeout'
        void entry.container?.kill()
      }, job.timeoutMs)
      const { exitCode, oomKilled } = await entry.container.wait()
      endedAt = performance.now()
      if (entry.stop === 'timeout') {
        const error = `the job ran past its ${formatDuration(job.timeoutMs)} timeout and was stopped`
        finish({ outcome: 'timeout', exitCode, retryable: false, error })
      } else if (entry.stop) {
        finish({ outcome: 'cancelled', exitCode, retryable: false, error: 'cancelled' })
      } else {
        finish({ outcome: 'exited', exitCode, retryable: false, error: oomKilled ? 'out of memory' : null })
      }
    } catch (err) {
      this.log(`job ${job.jobId}: Docker error: ${describe(err)}`)
      finish({
        outcome: 'error',
        exitCode: null,
        retryable: true,
        error: `Docker error on the worker: ${describe(err)}`,
      })
    } finally {
      if (timeout) clearTimeout(timeout)
      this.running.delete(job.jobId)
      // The result is already on its way; removing the container is not on the user's clock.
      void entry.container?.remove()
    }
  }

  private imageReady(image: string): Promise<boolean> {
    const known = this.images.get(image)
    if (known) return known
    const check = (async () => {
      if (await this.runtime.hasImage(image)) return true
      this.log(`image ${image} is not here; pulling it`)
      try {
        await this.runtime.pull(image, (line) => this.log(`pull ${image}: ${line}`))
        return true
      } catch (err) {
        this.log(`pull ${image} failed: ${describe(err)}`)
        return false
      }
    })()
    this.images.set(image, check)
    // Only a positive answer is cached: an image may be pulled or built later.
    void check.then(
      (ok) => (ok ? undefined : this.images.delete(image)),
      () => this.images.delete(image),
    )
    return check
  }
}
