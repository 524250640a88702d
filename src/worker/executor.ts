import { createHash, type Hash } from 'node:crypto'
import { describe, GridError } from '../errors'
import { type ArchiveEntry, packArchive, readArchive } from '../protocol/archive'
import { imageAllowed } from '../protocol/images'
import { pagesFor } from '../protocol/placement'
import type { Receipt, ReceiptBody } from '../protocol/receipt'
import { formatBytes, formatDuration } from '../protocol/units'
import type { JobSpec, LeaseRef, Outcome, Outputs, Usage, WorkerMessage } from '../protocol/worker'
import type { Environments, Prepared } from './env/environments'
import { ENV_MOUNT, ENV_SITE } from './env/runtime'
import { ImageCache } from './images'
import { flushWindowMs, OutputBatcher } from './output'
import {
  type ContainerRuntime,
  JOB_OUTPUT_DIR,
  JOB_WORKDIR,
  MAX_OUTPUT_ENTRIES,
  type RunningContainer,
  TMPFS_INODES,
} from './runtime'

type Report = Extract<WorkerMessage, { type: 'job.started' | 'job.output' | 'job.result' }>

/** How the worker moves job files to and from the coordinator (HTTP, under the job's lease). */
export interface FileTransfer {
  /** The job's input archive. */
  inputs(lease: LeaseRef): Promise<Uint8Array>
  /** Uploads the job's /out archive. */
  putOutputs(lease: LeaseRef, archive: Uint8Array): Promise<void>
}

/** What the executor needs, built once by the agent. */
export interface ExecutorOptions {
  runtime: ContainerRuntime
  workerId: string
  sign: (body: ReceiptBody) => Receipt
  report: (msg: Report) => void
  transfer: FileTransfer
  log: (line: string) => void
  /** Image patterns the owner allows (checked again here, whatever the coordinator sent). */
  images: readonly string[]
  /** Whether images missing here may be pulled. */
  pull: boolean
  /** OCI runtime for job containers (e.g. runsc); undefined for the engine's default. */
  ociRuntime?: string | undefined
  /** Size of each job's working directory (a tmpfs), and the most it may write to /out. */
  maxDiskBytes: number
  /** The most CPUs, memory and time one job may ask for on this worker. */
  limits: { cpus: number; memoryBytes: number; maxTimeoutMs: number | null }
  /** How often the size of a job's /out is measured. */
  diskCheckMs?: number
  /** Python package environments; undefined when this worker installs none. */
  envs?: Environments | undefined
}

type Stop = 'timeout' | 'cancelled' | 'abandoned' | 'output_limit' | 'out_limit'

interface Running {
  lease: LeaseRef
  /** Why the container is being stopped; `abandoned` means no result is reported (handed back). */
  stop: Stop | undefined
  /** The first reason given for stopping, in words. */
  stopReason?: string
  container: RunningContainer | undefined
  /** Fires at the first stop: what runs before the job's container (its install) ends at once. */
  abort: AbortController
}

interface Ending {
  outcome: Outcome
  exitCode: number | null
  error: string | null
  retryable: boolean
}

/** The coordinator refused the /out archive as too large: the job's own doing. */
class OutputsRefused extends Error {}

/** Most bytes of input archive a worker accepts, whatever a coordinator says. */
const MAX_INPUT_BYTES = 2 * 1024 ** 3

/** Runs jobs in containers: inputs, start, live output, limits, outputs, signed result, removal. */
export class Executor {
  private readonly running = new Map<string, Running>()
  private readonly images: ImageCache

  constructor(private readonly o: ExecutorOptions) {
    this.images = new ImageCache(o.runtime, o.pull, o.log)
  }

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
    const keep = new Set([...this.running.keys(), ...(this.o.envs?.busyJobLabels() ?? [])])
    return this.o.runtime.removeLeftovers(this.o.workerId, keep)
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

  private stop(lease: LeaseRef, why: Stop, reason: string): void {
    const r = this.running.get(lease.jobId)
    if (!r || r.lease.attempt !== lease.attempt) return
    this.o.log(`job ${lease.jobId}: stopping (${reason})`)
    if (!r.stop) r.stopReason = reason
    r.stop ??= why
    r.abort.abort()
    void r.container?.kill()
  }

  /** Runs one job to its end; never throws (failures become results). */
  async run(job: JobSpec): Promise<void> {
    const lease = { jobId: job.jobId, attempt: job.attempt }
    if (this.running.has(job.jobId)) return
    const entry: Running = { lease, stop: undefined, container: undefined, abort: new AbortController() }
    this.running.set(job.jobId, entry)
    const digests: Record<'stdout' | 'stderr', Hash> = {
      stdout: createHash('sha256'),
      stderr: createHash('sha256'),
    }
    const batcher = new OutputBatcher(
      (stream, seq, data) =>
        this.o.report({ type: 'job.output', lease, seq, stream, dataBase64: data.toString('base64') }),
      () => flushWindowMs(this.running.size),
    )
    let logged = 0
    let signed = false
    const emit = (stream: 'stdout' | 'stderr', data: Buffer) => {
      // Output that trails in after the result was signed is not the job's reported output.
      if (signed) return
      digests[stream].update(data)
      batcher.push(stream, data)
    }
    // Output past the job's limit is dropped and the job stopped.
    const onOutput = (stream: 'stdout' | 'stderr', data: Buffer) => {
      if (entry.stop === 'output_limit') return
      const room = job.logLimitBytes - logged
      logged += data.length
      if (data.length <= room) return emit(stream, data)
      if (room > 0) emit(stream, data.subarray(0, room))
      this.stop(lease, 'output_limit', `it wrote more than ${formatBytes(job.logLimitBytes)} of output`)
    }
    // Billed time runs from the container's start to its exit: pulls and set-up are not the job's.
    let startedAt: number | undefined
    let endedAt: number | undefined
    let usage: Usage = { cpuMs: null, peakMemoryBytes: null }
    let outputs: Outputs | null = null
    const finish = (end: Ending) => {
      batcher.flush()
      signed = true
      if (entry.stop === 'abandoned') return
      const durationMs = startedAt === undefined ? 0 : Math.round((endedAt ?? performance.now()) - startedAt)
      const receipt = this.o.sign({
        v: 1,
        jobId: job.jobId,
        attempt: job.attempt,
        workerId: this.o.workerId,
        outcome: end.outcome,
        exitCode: end.exitCode,
        stdoutSha256: digests.stdout.digest('hex'),
        stderrSha256: digests.stderr.digest('hex'),
        outputsSha256: outputs?.sha256 ?? null,
        durationMs,
        cpuMs: usage.cpuMs,
        peakMemoryBytes: usage.peakMemoryBytes,
        cpus: job.cpus,
        memoryBytes: job.memoryBytes,
        finishedAt: new Date().toISOString(),
      })
      this.o.report({ type: 'job.result', lease, durationMs, receipt, usage, outputs, ...end })
    }
    let timeout: ReturnType<typeof setTimeout> | undefined
    let disk: ReturnType<typeof setInterval> | undefined
    let env: Extract<Prepared, { ok: true }> | undefined
    try {
      const refused = this.outsidePolicy(job)
      if (refused) return finish({ outcome: 'error', exitCode: null, retryable: true, error: refused })
      const image = await this.images.ready(job.image)
      if (!image.ok) return finish({ outcome: 'error', exitCode: null, retryable: true, error: image.error })
      if (job.requirements.length > 0) {
        const say = (line: string) => onOutput('stderr', Buffer.from(`${line}\n`))
        const prepared = await this.prepareEnv(job, say, entry.abort.signal)
        // Stopped while installing: ended as a job stopped before its start, whatever the install said.
        if (entry.stop && !prepared.ok)
          return finish({ outcome: 'cancelled', exitCode: null, retryable: false, error: null })
        if (!prepared.ok) {
          // The installer's own lines (the error's tail) already went to the job's stderr live.
          const summary = (prepared.error.split('\n')[0] ?? '').replace(/:$/, '')
          say(`gridx: ${summary}`)
          this.o.log(`job ${job.jobId}: packages not installed: ${summary}`)
          const { error, retryable } = prepared
          return finish({ outcome: 'install_failed', exitCode: null, retryable, error })
        }
        env = prepared
      }
      if (entry.stop) return finish({ outcome: 'cancelled', exitCode: null, retryable: false, error: null })
      const files = await this.filesOf(job)
      if (entry.stop) return finish({ outcome: 'cancelled', exitCode: null, retryable: false, error: null })
      const tooBig = this.tooBigForWorkdir(files)
      if (tooBig) return finish({ outcome: 'error', exitCode: null, retryable: true, error: tooBig })
      const cmd = job.script ? ['python3', '-u', job.script.name, ...job.args] : [...job.command, ...job.args]
      entry.container = await this.o.runtime.start(
        {
          name: `gridx-${job.jobId}-${job.attempt}`,
          image: image.ref,
          cmd,
          env: [
            'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
            `HOME=${JOB_WORKDIR}`,
            'LANG=C.UTF-8',
            'PYTHONUNBUFFERED=1',
            `GRIDX_JOB_ID=${job.jobId}`,
            `GRIDX_OUTPUT=${JOB_OUTPUT_DIR}`,
            ...(env ? [`PYTHONPATH=${ENV_SITE}`] : []),
            ...(job.array ? [`GRIDX_ARRAY_ID=${job.array.id}`, `GRIDX_ARRAY_INDEX=${job.array.index}`] : []),
          ],
          envVolume: env ? { name: env.volume, target: ENV_MOUNT } : undefined,
          files,
          workdirBytes: this.o.maxDiskBytes,
          labels: {
            'gridx.job': job.jobId,
            'gridx.attempt': String(job.attempt),
            'gridx.worker': this.o.workerId,
          },
          cpus: job.cpus,
          memoryBytes: job.memoryBytes,
          ociRuntime: this.o.ociRuntime,
        },
        onOutput,
      )
      startedAt = performance.now()
      this.o.report({ type: 'job.started', lease })
      if (entry.stop) void entry.container.kill()
      timeout = setTimeout(() => {
        entry.stop ??= 'timeout'
        void entry.container?.kill()
      }, job.timeoutMs)
      disk = this.watchOutput(entry, job)
      const exit = await entry.container.wait()
      if (disk) clearInterval(disk)
      endedAt = performance.now()
      // The kernel kills at the limit, so an OOM kill means the job reached it (sampling can miss a fast climb).
      usage = exit.oomKilled ? { ...exit.usage, peakMemoryBytes: job.memoryBytes } : exit.usage
      const stop = entry.stop as Stop | undefined
      if (stop === 'cancelled' || stop === 'abandoned') {
        return finish({ outcome: 'cancelled', exitCode: exit.exitCode, retryable: false, error: 'cancelled' })
      }
      // What the job left under /out comes back whatever its ending (partial results help), but
      // not past its limit: reading it would be the very cost the limit prevents.
      const left =
        stop === 'out_limit'
          ? { tooBig: false as const, entries: [], skipped: [], bytes: 0 }
          : await entry.container.outputs(job.outputLimitBytes, MAX_OUTPUT_ENTRIES)
      if (left.tooBig) {
        const error = `${left.why}; they were not kept`
        return finish({ outcome: 'output_limit', exitCode: exit.exitCode, retryable: false, error })
      }
      // A few notices, within the job's output limit: a million links must not become a million lines.
      const notes = left.skipped
        .slice(0, 20)
        .map((s) => `gridx: ${JOB_OUTPUT_DIR}/${s.path} was not returned: ${s.reason}\n`)
      if (left.skipped.length > 20)
        notes.push(
          `gridx: ... and ${left.skipped.length - 20} more entries of ${JOB_OUTPUT_DIR} were not returned\n`,
        )
      const room = Math.max(0, job.logLimitBytes - logged)
      const text = Buffer.from(notes.join('')).subarray(0, room)
      if (text.length > 0) emit('stderr', text)
      if (left.entries.length > 0) {
        try {
          outputs = await this.upload(lease, left.entries)
        } catch (err) {
          if (!(err instanceof OutputsRefused)) throw err
          const error = `the coordinator refused the job's ${JOB_OUTPUT_DIR} files: ${err.message}`
          return finish({ outcome: 'output_limit', exitCode: exit.exitCode, retryable: false, error })
        }
      }
      if (stop === 'timeout') {
        const error = `the job ran past its ${formatDuration(job.timeoutMs)} timeout and was stopped`
        return finish({ outcome: 'timeout', exitCode: exit.exitCode, retryable: false, error })
      }
      if (stop === 'out_limit') {
        const error = `the job ${entry.stopReason}, and was stopped`
        return finish({ outcome: 'output_limit', exitCode: exit.exitCode, retryable: false, error })
      }
      if (stop === 'output_limit') {
        const error = `the job wrote more than ${formatBytes(job.logLimitBytes)} of output and was stopped`
        return finish({ outcome: 'output_limit', exitCode: exit.exitCode, retryable: false, error })
      }
      if (exit.oomKilled) {
        const error = `killed for going over its ${formatBytes(job.memoryBytes)} memory limit: ask for more with --memory`
        return finish({ outcome: 'oom', exitCode: exit.exitCode, retryable: false, error })
      }
      finish({ outcome: 'exited', exitCode: exit.exitCode, retryable: false, error: null })
    } catch (err) {
      // The prepared image may have been removed (docker image prune): prepare it again next time.
      if (!entry.container) this.images.forget(job.image)
      const bad = err instanceof GridError && !err.retryable
      this.o.log(`job ${job.jobId}: ${bad ? '' : 'Docker error: '}${describe(err)}`)
      finish({
        outcome: 'error',
        exitCode: null,
        retryable: !bad,
        error: bad ? describe(err) : `Docker error on the worker: ${describe(err)}`,
      })
    } finally {
      if (timeout) clearTimeout(timeout)
      if (disk) clearInterval(disk)
      this.running.delete(job.jobId)
      // The result is already on its way; removing the container is not on the user's clock. Its
      // environment is released once no container mounts it, so the cache may then remove it.
      const release = () => env?.release()
      if (entry.container) void entry.container.remove().finally(release)
      else release()
    }
  }

  /** The job's package environment (installed or cached), or why it cannot have one. */
  private async prepareEnv(
    job: JobSpec,
    say: (line: string) => void,
    signal: AbortSignal,
  ): Promise<Prepared> {
    if (!this.o.envs)
      return {
        ok: false,
        retryable: true,
        error:
          "this worker does not install Python packages (its owner runs 'gridx work --no-packages'); the job needs another worker",
      }
    return this.o.envs.prepare(job, job.image, say, signal)
  }

  /** Why this worker's owner does not allow the job, whatever the coordinator sent; undefined when allowed. */
  private outsidePolicy(job: JobSpec): string | undefined {
    const l = this.o.limits
    if (!imageAllowed(this.o.images, job.image))
      return `image '${job.image}' is not allowed on this worker (its owner allows ${this.o.images.join(', ')})`
    if (job.cpus > l.cpus || job.memoryBytes > l.memoryBytes)
      return `the job asks for ${job.cpus} CPUs and ${formatBytes(job.memoryBytes)}; this worker allows at most ${l.cpus} and ${formatBytes(l.memoryBytes)}`
    if (l.maxTimeoutMs !== null && job.timeoutMs > l.maxTimeoutMs)
      return `the job's timeout ${formatDuration(job.timeoutMs)} is longer than this worker allows (${formatDuration(l.maxTimeoutMs)})`
    // Before fetching them; once here, tooBigForWorkdir counts them as the tmpfs will.
    if ((job.inputs?.bytes ?? 0) > this.o.maxDiskBytes) return this.noRoom(formatBytes(job.inputs!.bytes))
    return undefined
  }

  /**
   * Why the job's files cannot be copied into its working directory, a tmpfs of --max-disk that
   * takes whole pages per file and one inode per entry; undefined when they fit.
   */
  private tooBigForWorkdir(files: readonly ArchiveEntry[]): string | undefined {
    const bytes = files.reduce((n, f) => n + pagesFor(f.data.length), 0)
    if (bytes > this.o.maxDiskBytes) return this.noRoom(formatBytes(bytes))
    if (files.length >= TMPFS_INODES) return this.noRoom(`${files.length} files and directories`)
    return undefined
  }

  private noRoom(what: string): string {
    return `the job's files (${what}) do not fit in this worker's ${formatBytes(this.o.maxDiskBytes)} working directory (its owner sets the size with --max-disk)`
  }

  /**
   * Measures the job's /out now and then; stops it past its limit: the coordinator would refuse
   * more, and /out is on this worker's disk. (The working directory needs no watching: it is a
   * tmpfs the kernel caps.)
   */
  private watchOutput(entry: Running, job: JobSpec): ReturnType<typeof setInterval> | undefined {
    const coordinators = job.outputLimitBytes <= this.o.maxDiskBytes
    const limit = coordinators ? job.outputLimitBytes : this.o.maxDiskBytes
    const whose = coordinators ? 'the most the coordinator accepts' : "the most this worker's owner allows"
    let checking = false
    const timer = setInterval(() => {
      if (checking || !entry.container) return
      checking = true
      void entry.container
        .outputUse(MAX_OUTPUT_ENTRIES)
        .then((used) => {
          if (used === undefined) return clearInterval(timer)
          if (used.bytes > limit) {
            this.stop(
              entry.lease,
              'out_limit',
              `wrote more than ${formatBytes(limit)} to ${JOB_OUTPUT_DIR}, ${whose}`,
            )
          } else if (used.entries > MAX_OUTPUT_ENTRIES) {
            this.stop(
              entry.lease,
              'out_limit',
              `left more than ${MAX_OUTPUT_ENTRIES} files in ${JOB_OUTPUT_DIR}, the most that can come back`,
            )
          }
        })
        .catch(() => undefined)
        .finally(() => (checking = false))
    }, this.o.diskCheckMs ?? 2000)
    return timer
  }

  /** The job's script and input files, as they go into its working directory. */
  private async filesOf(job: JobSpec): Promise<ArchiveEntry[]> {
    const files: ArchiveEntry[] = []
    if (job.inputs) {
      const archive = await this.o.transfer
        .inputs({ jobId: job.jobId, attempt: job.attempt })
        .catch((err) => {
          throw new GridError('inputs_fetch', `could not fetch the input files: ${describe(err)}`, {
            retryable: true,
          })
        })
      const sha256 = createHash('sha256').update(archive).digest('hex')
      if (sha256 !== job.inputs.sha256) {
        throw new GridError(
          'inputs_corrupt',
          `the input files of job ${job.jobId} arrived damaged (checksum mismatch)`,
          {
            retryable: true,
          },
        )
      }
      const what = 'the input files'
      const contents = await readArchive(archive, { what, maxBytes: MAX_INPUT_BYTES, maxEntries: 100_000 })
      files.push(...contents.entries)
    }
    if (job.script) {
      const data = Buffer.from(job.script.contentBase64, 'base64')
      const path = job.script.name
      const i = files.findIndex((f) => f.path === path)
      if (i >= 0) files.splice(i, 1)
      files.push({ path, type: 'file', data, mode: 0o644 })
    }
    return files
  }

  /** Packs and uploads the job's /out files; tries a few times, since a network blip should not lose them. */
  private async upload(lease: LeaseRef, entries: ArchiveEntry[]): Promise<Outputs> {
    const archive = await packArchive(entries)
    const sha256 = createHash('sha256').update(archive).digest('hex')
    const bytes = entries.reduce((n, e) => n + e.data.length, 0)
    for (let attempt = 1; ; attempt++) {
      try {
        await this.o.transfer.putOutputs(lease, archive)
        break
      } catch (err) {
        const status = err instanceof GridError ? (err.status ?? 0) : 0
        if (status === 413) throw new OutputsRefused(describe(err))
        if (attempt >= 4 || (status >= 400 && status < 500)) {
          throw new GridError('outputs_upload', `could not upload the /out files: ${describe(err)}`, {
            retryable: true,
          })
        }
        this.o.log(`job ${lease.jobId}: uploading its /out files failed (${describe(err)}); trying again`)
        await Bun.sleep(500 * 2 ** attempt)
      }
    }
    return { sha256, bytes, files: entries.filter((e) => e.type === 'file').length }
  }
}
