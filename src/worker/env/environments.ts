import { join } from 'node:path'
import { describe } from '../../errors'
import { normaliseRequirements } from '../../protocol/requirements'
import { formatBytes } from '../../protocol/units'
import { ABORTED, untilAborted } from './abort'
import { EnvIndex } from './cache'
import { install, type InstallResult } from './install'
import { PROBE_SCRIPT, ProbeFacts } from './installer'
import { envKey, shortKey } from './key'
import { pythonSatisfies } from './python-version'
import type { EnvRuntime } from './runtime'

/** What a worker's owner decides about packages (`gridx work --package-index …`). */
export interface PackagePolicy {
  /** PEP 503 simple index URL. */
  index: string
  /** Docker network of the install step. */
  network: string
  /** Past this many bytes, least recently used environments are removed. */
  cacheBytes: number
  /** Builds from source distributions allowed (package code runs at install). */
  allowSource: boolean
}

/** What building environments needs, made once by `gridx work`. */
export interface EnvironmentsOptions {
  runtime: EnvRuntime
  workerId: string
  /** Shown to the submitter (`installing 2 packages on <name>`). */
  workerName: string
  /** The worker's GRIDX_HOME: the index of environments lives there. */
  home: string
  /** Null when the owner ran `--no-packages`. */
  policy: PackagePolicy | null
  log: (line: string) => void
  now?: () => number
  /** Longest one install may take (default 10 min). */
  installTimeoutMs?: number
}

/** What a job needs from the environment step. */
export interface EnvNeeds {
  jobId: string
  requirements: readonly string[]
  requiresPython: string | null
  cpus: number
}

/** A mounted environment (release it when the job is done), or why there is none. */
export type Prepared =
  | { ok: true; volume: string; key: string; release: () => void }
  | { ok: false; error: string; retryable: boolean }

const fail = (error: string, retryable: boolean): Prepared => ({ ok: false, error, retryable })
const stopped = (): Prepared => fail('the job was stopped while its environment was being prepared', true)

/** One install under way: the jobs waiting for it (it goes on while one does), and how to kill it. */
interface Installing {
  result: Promise<InstallResult>
  abort: AbortController
  /** Each waiting job's stderr: the installer's lines go to every one. */
  waiters: Set<(line: string) => void>
}

/**
 * A worker's Python package environments: checks a job's requirements against the owner's policy,
 * finds or installs the environment (one install per key, however many jobs wait for it), counts
 * the jobs using each, and keeps the cache under its size.
 */
export class Environments {
  private readonly index: EnvIndex
  private readonly inUse = new Map<string, number>()
  private readonly installing = new Map<string, Installing>()
  private readonly probes = new Map<string, Promise<ProbeFacts | string>>()

  constructor(private readonly o: EnvironmentsOptions) {
    this.index = new EnvIndex(join(o.home, 'envs', `${o.workerId}.json`), o.now)
  }

  /** Labels of install containers running now (the stray-container sweep leaves them). */
  busyJobLabels(): Set<string> {
    return new Set([...this.installing.keys()].map((k) => `env-${shortKey(k)}`))
  }

  /**
   * Removes this worker's half-made environments (volumes no complete entry names: an install cut
   * short by a crash) and forgets entries whose volume is gone. Returns the volumes removed.
   */
  async removeLeftovers(): Promise<string[]> {
    const volumes = await this.o.runtime.listVolumes({ 'gridx.worker': this.o.workerId })
    const complete = this.index.volumes()
    const present = new Set(volumes.map((v) => v.name))
    for (const [key, e] of this.index.byAge()) if (!present.has(e.volume)) this.index.delete(key)
    const busy = new Set([...this.installing.keys()].map((k) => this.volumeName(k)))
    const half = volumes.filter((v) => v.labels['gridx.env'] && !complete.has(v.name) && !busy.has(v.name))
    for (const v of half) await this.o.runtime.removeVolume(v.name).catch(() => false)
    return half.map((v) => v.name)
  }

  /**
   * The environment of a job, made if needed; `say` writes to the job's stderr. Once `signal`
   * fires the job stops waiting at once; an install no other job waits for is then killed, and
   * its half-made volume removed, before this returns.
   */
  async prepare(
    job: EnvNeeds,
    image: string,
    say: (line: string) => void,
    signal?: AbortSignal,
  ): Promise<Prepared> {
    if (signal?.aborted) return stopped()
    const policy = this.o.policy
    if (!policy)
      return fail(
        "this worker does not install Python packages (its owner runs 'gridx work --no-packages'); the job needs another worker",
        true,
      )
    let requirements: string[]
    try {
      // Whatever the coordinator sent: a hostile one must not aim the installer anywhere.
      requirements = normaliseRequirements(job.requirements)
    } catch (err) {
      return fail(`refused the job's requirements: ${describe(err)}`, false)
    }
    const imageId = await this.o.runtime.imageId(image)
    const facts = await untilAborted(this.probe(image, imageId), signal)
    if (facts === ABORTED) return stopped()
    if (typeof facts === 'string') return fail(facts, false)
    if (job.requiresPython && !pythonSatisfies(facts.python, job.requiresPython)) {
      return fail(
        `the script requires Python ${job.requiresPython}, and ${image} has Python ${facts.python}: choose an image with a matching Python (--image), or change requires-python`,
        false,
      )
    }
    const key = envKey({
      imageId,
      python: facts.python,
      platform: facts.platform,
      requirements,
      index: policy.index,
      allowSource: policy.allowSource,
    })
    const short = shortKey(key)
    // One being killed (its jobs all stopped) is never joined: its volume goes once it is dead.
    for (
      let dying = this.installing.get(key);
      dying?.abort.signal.aborted;
      dying = this.installing.get(key)
    ) {
      if ((await untilAborted(dying.result, signal)) === ABORTED) return stopped()
    }
    const cached = this.index.get(key)
    if (cached && !this.installing.has(key)) {
      const there = await this.o.runtime.listVolumes({ 'gridx.env': key, 'gridx.worker': this.o.workerId })
      if (there.some((v) => v.name === cached.volume)) {
        say(`gridx: using cached environment ${short}`)
        return this.acquire(key, cached.volume)
      }
      this.index.delete(key) // removed behind our back (docker volume prune)
    }
    if (signal?.aborted) return stopped()
    let pending = this.installing.get(key)
    if (pending) {
      say(`gridx: waiting for environment ${short}, which another job on ${this.o.workerName} is installing`)
    } else {
      const n = requirements.length
      say(
        `gridx: installing ${n} package${n === 1 ? '' : 's'} on ${this.o.workerName} (cached environment not found)`,
      )
      pending = this.startInstall(key, image, facts, requirements, policy, job.cpus)
    }
    pending.waiters.add(say)
    const r = await untilAborted(pending.result, signal)
    pending.waiters.delete(say)
    if (r === ABORTED) {
      // The last job waiting for it: nobody needs it, so it is killed now, not left to run for minutes.
      if (pending.waiters.size === 0) {
        pending.abort.abort()
        await pending.result
      }
      return stopped()
    }
    if (!r.ok) return fail(r.error, r.retryable)
    say(`gridx: environment ${short} ready (${formatBytes(r.bytes)})`)
    return this.acquire(key, this.volumeName(key))
  }

  private volumeName(key: string): string {
    return `gridx-env-${this.o.workerId}-${key.slice(0, 24)}`
  }

  private acquire(key: string, volume: string): Prepared {
    this.inUse.set(key, (this.inUse.get(key) ?? 0) + 1)
    this.index.touch(key)
    let released = false
    const release = () => {
      if (released) return
      released = true
      const n = (this.inUse.get(key) ?? 1) - 1
      if (n > 0) this.inUse.set(key, n)
      else this.inUse.delete(key)
      void this.evict()
    }
    return { ok: true, volume, key, release }
  }

  /** The image's Python (once per image id), or why packages cannot go into it. */
  private probe(image: string, imageId: string): Promise<ProbeFacts | string> {
    let p = this.probes.get(imageId)
    if (!p) {
      p = this.runProbe(image)
      this.probes.set(imageId, p)
      // A Docker fault is not the image's: look again next time.
      void p.then((r) => typeof r === 'string' && r.startsWith('Docker') && this.probes.delete(imageId))
    }
    return p
  }

  private async runProbe(image: string): Promise<ProbeFacts | string> {
    let out = ''
    const exit = await this.o.runtime
      .runTool(
        {
          name: `gridx-probe-${this.o.workerId}-${Math.random().toString(36).slice(2, 10)}`,
          image,
          cmd: ['python3', '-c', PROBE_SCRIPT],
          env: [
            'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
            'HOME=/tmp',
            'LANG=C.UTF-8',
          ],
          files: [],
          network: 'none',
          cpus: 1,
          memoryBytes: 256 * 1024 ** 2,
          tmpBytes: 16 * 1024 ** 2,
          timeoutMs: 60_000,
          labels: { 'gridx.worker': this.o.workerId, 'gridx.probe': image },
        },
        (stream, data) => {
          if (stream === 'stdout' && out.length < 4096) out += data.toString()
        },
      )
      .catch((err: unknown) => `Docker error while looking at ${image}'s Python: ${describe(err)}`)
    if (typeof exit === 'string') return exit
    const noPython = `the image ${image} has no python3, so Python packages cannot be installed into it: use a Python image (such as python:3.12-slim)`
    if (exit.startError !== undefined || exit.exitCode === 127) return noPython
    const parsed = ProbeFacts.safeParse(
      (() => {
        try {
          return JSON.parse(out.trim().split('\n').pop() ?? '') as unknown
        } catch {
          return undefined
        }
      })(),
    )
    if (exit.exitCode !== 0 || !parsed.success)
      return `could not read the Python version of ${image} (its python3 exited with ${exit.exitCode}): use a standard Python image`
    return parsed.data
  }

  /** Starts one install of `key`, known as under way until it has ended and cleaned up. */
  private startInstall(
    key: string,
    image: string,
    facts: ProbeFacts,
    requirements: string[],
    policy: PackagePolicy,
    cpus: number,
  ): Installing {
    const abort = new AbortController()
    const waiters = new Set<(line: string) => void>()
    const say = (line: string) => {
      for (const w of waiters) w(line)
    }
    const entry: Installing = {
      abort,
      waiters,
      result: Promise.resolve({ ok: false, error: '', retryable: true }),
    }
    entry.result = this.installNew(key, image, facts, requirements, policy, cpus, say, abort.signal).finally(
      () => this.installing.get(key) === entry && this.installing.delete(key),
    )
    this.installing.set(key, entry)
    return entry
  }

  private async installNew(
    key: string,
    image: string,
    facts: ProbeFacts,
    requirements: string[],
    policy: PackagePolicy,
    cpus: number,
    say: (line: string) => void,
    signal: AbortSignal,
  ): Promise<InstallResult> {
    const volume = this.volumeName(key)
    const labels = { 'gridx.worker': this.o.workerId, 'gridx.env': key }
    const started = performance.now()
    try {
      // A half-made one of the same name (a crash since start) never counts as made.
      await this.o.runtime.removeVolume(volume)
      await this.o.runtime.createVolume(volume, labels)
      const r = await install({
        runtime: this.o.runtime,
        image,
        facts,
        requirements,
        index: policy.index,
        allowSource: policy.allowSource,
        network: policy.network,
        volume,
        cpus,
        labels: { ...labels, 'gridx.job': `env-${shortKey(key)}` },
        containerName: `gridx-install-${this.o.workerId}-${shortKey(key)}-${Math.random().toString(36).slice(2, 8)}`,
        say,
        timeoutMs: this.o.installTimeoutMs,
        signal,
      })
      if (!r.ok) {
        await this.o.runtime.removeVolume(volume).catch(() => false)
        if (signal.aborted) this.o.log(`environment ${shortKey(key)}: install stopped, its volume removed`)
        return r
      }
      this.index.add(key, volume, r.bytes)
      this.o.log(
        `environment ${shortKey(key)}: ${requirements.length} package(s), ${formatBytes(r.bytes)}, installed in ${Math.round(performance.now() - started)} ms`,
      )
      await this.evict(key)
      return r
    } catch (err) {
      await this.o.runtime.removeVolume(volume).catch(() => false)
      return {
        ok: false,
        retryable: true,
        error: `Docker error on the worker while installing packages: ${describe(err)}`,
      }
    }
  }

  /** Removes least recently used environments no job uses while the cache is past its size. */
  private async evict(keep?: string): Promise<void> {
    const limit = this.o.policy?.cacheBytes ?? 0
    for (const [key, e] of this.index.byAge()) {
      if (this.index.totalBytes() <= limit) return
      if (key === keep || this.inUse.has(key) || this.installing.has(key)) continue
      const removed = await this.o.runtime.removeVolume(e.volume).catch(() => false)
      if (!removed) continue
      this.index.delete(key)
      this.o.log(
        `environment ${shortKey(key)} removed (${formatBytes(e.bytes)}; the cache is past ${formatBytes(limit)})`,
      )
    }
  }
}
