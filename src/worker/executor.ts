import { describe } from '../errors'
import type { JobSpec, LeaseRef, WorkerMessage } from '../protocol/worker'
import { formatDuration } from '../protocol/units'
import type { ContainerRuntime, RunningContainer } from './runtime'

/** Output is sent in chunks of at most this many bytes, or after this long, whichever comes first. */
const CHUNK_BYTES = 64 * 1024
const FLUSH_MS = 25

/** The working directory of every job inside its container. */
export const JOB_WORKDIR = '/gridx/job'

type Report = Extract<WorkerMessage, { type: 'job.started' | 'job.output' | 'job.result' }>

interface Running {
  lease: LeaseRef
  stop: 'timeout' | 'cancelled' | undefined
  container: RunningContainer | undefined
}

/** Runs jobs in containers: image, start, live output, timeout, cancel, result, removal. */
export class Executor {
  private readonly running = new Map<string, Running>()

  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly workerId: string,
    private readonly report: (msg: Report) => void,
    private readonly log: (line: string) => void,
  ) {}

  /** Leases of the jobs running now (heartbeats carry them). */
  leases(): LeaseRef[] {
    return [...this.running.values()].map((r) => r.lease)
  }

  /** How many jobs run now. */
  get busy(): number {
    return this.running.size
  }

  /** Stops a job's container (cancelled by its owner, or its lease is no longer ours). */
  cancel(lease: LeaseRef, reason: string): void {
    const r = this.running.get(lease.jobId)
    if (!r || r.lease.attempt !== lease.attempt) return
    this.log(`job ${lease.jobId}: stopping (${reason})`)
    r.stop ??= 'cancelled'
    void r.container?.kill()
  }

  /** Runs one job to its end; never throws (failures become results). */
  async run(job: JobSpec): Promise<void> {
    const lease = { jobId: job.jobId, attempt: job.attempt }
    if (this.running.has(job.jobId)) return
    const entry: Running = { lease, stop: undefined, container: undefined }
    this.running.set(job.jobId, entry)
    // Billed time runs from the container's start to its exit: pulls and set-up are not the job's.
    let startedAt: number | undefined
    const result = (r: Omit<Extract<Report, { type: 'job.result' }>, 'type' | 'lease' | 'durationMs'>) =>
      this.report({
        type: 'job.result',
        lease,
        durationMs: startedAt === undefined ? 0 : Math.round(performance.now() - startedAt),
        ...r,
      })
    let seq = 0
    let pending: { stream: 'stdout' | 'stderr'; parts: Buffer[]; bytes: number } | undefined
    let timer: ReturnType<typeof setTimeout> | undefined
    const flush = () => {
      if (timer) clearTimeout(timer)
      timer = undefined
      if (!pending) return
      const data = Buffer.concat(pending.parts)
      this.report({
        type: 'job.output',
        lease,
        seq: seq++,
        stream: pending.stream,
        dataBase64: data.toString('base64'),
      })
      pending = undefined
    }
    const onOutput = (stream: 'stdout' | 'stderr', data: Buffer) => {
      if (pending && pending.stream !== stream) flush()
      pending ??= { stream, parts: [], bytes: 0 }
      pending.parts.push(Buffer.from(data))
      pending.bytes += data.length
      if (pending.bytes >= CHUNK_BYTES) flush()
      else timer ??= setTimeout(flush, FLUSH_MS)
    }
    let timeout: ReturnType<typeof setTimeout> | undefined
    try {
      if (!(await this.imageReady(job.image))) {
        return result({
          outcome: 'error',
          exitCode: null,
          retryable: false,
          error: `image '${job.image}' is not on this worker and could not be pulled: use --image with an image the worker has, or ask its owner to pull it`,
        })
      }
      if (entry.stop) return result({ outcome: 'cancelled', exitCode: null, retryable: false, error: null })
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
        onOutput,
      )
      startedAt = performance.now()
      this.report({ type: 'job.started', lease })
      if (entry.stop) void entry.container.kill()
      timeout = setTimeout(() => {
        entry.stop ??= 'timeout'
        void entry.container?.kill()
      }, job.timeoutMs)
      const { exitCode, oomKilled } = await entry.container.wait()
      flush()
      if (entry.stop === 'timeout') {
        result({
          outcome: 'timeout',
          exitCode,
          retryable: false,
          error: `the job ran past its ${formatDuration(job.timeoutMs)} timeout and was stopped`,
        })
      } else if (entry.stop === 'cancelled') {
        result({ outcome: 'cancelled', exitCode, retryable: false, error: 'cancelled' })
      } else if (oomKilled) {
        result({ outcome: 'exited', exitCode, retryable: false, error: 'out of memory' })
      } else {
        result({ outcome: 'exited', exitCode, retryable: false, error: null })
      }
    } catch (err) {
      flush()
      this.log(`job ${job.jobId}: Docker error: ${describe(err)}`)
      result({
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

  private readonly images = new Map<string, Promise<boolean>>()

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
