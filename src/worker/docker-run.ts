import type Docker from 'dockerode'
import { existsSync } from 'node:fs'
import { lstat, readdir, readlink, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { GridError } from '../errors'
import { packArchive, readArchive } from '../protocol/archive'
import type { Usage } from '../protocol/worker'
import {
  type ContainerSpec,
  JOB_OUTPUT_DIR,
  JOB_STAGING_DIR,
  JOB_WORKDIR,
  type JobOutputs,
  TMPFS_INODES,
  type RunningContainer,
} from './runtime'

/** The uid:gid jobs run as inside their container (nobody). */
export const JOB_UID = 65534

/** The largest single file a job may write (ulimit fsize), in bytes. */
const FILE_SIZE_LIMIT = 1024 ** 3

/** Size of the job's /tmp (memory-backed, counted against its memory limit). */
const TMP_SIZE = '256m'

/** Most processes and threads in one job's container. */
export const PIDS_LIMIT = 512

/** Open files and no core dumps: the limits every container of strangers' code starts with. */
export const LOCKED_ULIMITS = [
  { Name: 'nofile', Soft: 1024, Hard: 1024 },
  { Name: 'core', Soft: 0, Hard: 0 },
]

/**
 * The host settings every container that runs strangers' code shares (a job's, a package
 * install's): read-only root, no capabilities or privilege gain, memory without swap, CPU and
 * process caps, an init, no logs kept by Docker. Callers add their mounts, tmpfs and ulimits.
 */
export function lockedHostConfig(o: {
  network: string
  memoryBytes: number
  cpus: number
}): Docker.HostConfig {
  return {
    ReadonlyRootfs: true,
    NetworkMode: o.network,
    Memory: o.memoryBytes,
    MemorySwap: o.memoryBytes,
    NanoCpus: Math.round(o.cpus * 1e9),
    PidsLimit: PIDS_LIMIT,
    CapDrop: ['ALL'],
    SecurityOpt: ['no-new-privileges'],
    Init: true,
    Ulimits: LOCKED_ULIMITS,
    LogConfig: { Type: 'none', Config: {} },
  }
}

/** The container settings that lock a job in: no network, nothing writable but its own directories. */
export function jobContainerConfig(spec: ContainerSpec): Docker.ContainerCreateOptions {
  return {
    name: spec.name,
    Image: spec.image,
    Cmd: spec.cmd,
    Env: spec.env,
    WorkingDir: JOB_WORKDIR,
    User: `${JOB_UID}:${JOB_UID}`,
    Labels: spec.labels,
    NetworkDisabled: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    OpenStdin: false,
    // Anonymous volumes, removed with the container; they start as the prepared image's
    // directories: the staging one is root's, /out the job's user's.
    Volumes: { [JOB_STAGING_DIR]: {}, [JOB_OUTPUT_DIR]: {} },
    HostConfig: {
      ...lockedHostConfig({ network: 'none', memoryBytes: spec.memoryBytes, cpus: spec.cpus }),
      // Read-only: the job cannot change the cached environment the next job uses.
      ...(spec.envVolume
        ? {
            Mounts: [
              { Type: 'volume', Source: spec.envVolume.name, Target: spec.envVolume.target, ReadOnly: true },
            ],
          }
        : {}),
      // Memory-backed and size-capped by the kernel: past the size, writes fail with ENOSPC.
      Tmpfs: {
        '/tmp': `rw,nosuid,nodev,size=${TMP_SIZE},nr_inodes=${TMPFS_INODES}`,
        [JOB_WORKDIR]: `rw,exec,nosuid,nodev,size=${spec.workdirBytes},nr_inodes=${TMPFS_INODES},uid=${JOB_UID},gid=${JOB_UID},mode=0700`,
      },
      Ulimits: [...LOCKED_ULIMITS, { Name: 'fsize', Soft: FILE_SIZE_LIMIT, Hard: FILE_SIZE_LIMIT }],
      ...(spec.ociRuntime ? { Runtime: spec.ociRuntime } : {}),
    },
  }
}

/** Splits Docker's multiplexed attach stream (8-byte frame headers) into stdout and stderr. */
export function demux(
  onOutput: (stream: 'stdout' | 'stderr', data: Buffer) => void,
): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0)
  return (chunk) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4)
      if (pending.length < 8 + size) break
      const kind = pending[0] === 2 ? 'stderr' : 'stdout'
      if (size > 0) onOutput(kind, pending.subarray(8, 8 + size))
      pending = pending.subarray(8 + size)
    }
  }
}

/** Docker's stats JSON, the parts that say what a job used (cgroup v1 and v2). */
interface StatsSample {
  cpu_stats?: { cpu_usage?: { total_usage?: number } }
  memory_stats?: { usage?: number; max_usage?: number }
}

/**
 * Follows a container's resource use from Docker's stats stream (about one sample a second):
 * CPU time so far and the highest memory use seen (cgroup v1 keeps the true peak).
 */
async function followUsage(container: Docker.Container): Promise<{ usage: () => Usage; stop: () => void }> {
  let cpuNs: number | null = null
  let peak: number | null = null
  const stream = (await container.stats({ stream: true })) as unknown as Readable
  let buffered = ''
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    let nl: number
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      try {
        const s = JSON.parse(line) as StatsSample
        const cpu = s.cpu_stats?.cpu_usage?.total_usage
        if (cpu) cpuNs = Math.max(cpuNs ?? 0, cpu)
        const mem = Math.max(s.memory_stats?.max_usage ?? 0, s.memory_stats?.usage ?? 0)
        if (mem) peak = Math.max(peak ?? 0, mem)
      } catch {
        // A partial or odd line: the next sample will do.
      }
    }
  })
  stream.on('error', () => undefined)
  return {
    usage: () => ({ cpuMs: cpuNs === null ? null : Math.round(cpuNs / 1e6), peakMemoryBytes: peak }),
    stop: () => stream.destroy(),
  }
}

/** A volume mount as `docker inspect` shows it. */
interface Mount {
  Type: string
  Source: string
  Destination: string
}

/**
 * What is under `dir` (links not followed): bytes (the larger of a file's size and the disk it
 * takes) and entries. Stops counting past `maxEntries`: that many is over the limit anyway.
 */
async function treeSize(dir: string, maxEntries: number): Promise<{ bytes: number; entries: number }> {
  let bytes = 0
  let entries = 0
  const walk = async (d: string): Promise<void> => {
    const list = await readdir(d, { withFileTypes: true }).catch(() => [])
    for (const e of list) {
      if (++entries > maxEntries) return
      const path = join(d, e.name)
      if (e.isDirectory()) await walk(path)
      const st = await lstat(path).catch(() => undefined)
      if (st) bytes += Math.max(st.size, st.blocks * 512)
    }
  }
  await walk(dir)
  return { bytes, entries }
}

/** The most open files of a job looked at per check, so a job holding many cannot slow it down. */
const MAX_OPEN_FILES_SCANNED = 20_000

/**
 * Bytes of files under `dir` (a path inside the container) that its processes deleted but still
 * hold open: they take disk space, yet no walk of the directory finds them. Needs root to read
 * other users' /proc entries; 0 when it cannot look. Looks at most at MAX_OPEN_FILES_SCANNED.
 */
async function deletedButOpen(container: Docker.Container, dir: string): Promise<number> {
  const top = (await container.top().catch(() => undefined)) as
    { Titles?: string[]; Processes?: string[][] } | undefined
  const col = top?.Titles?.indexOf('PID') ?? -1
  if (!top?.Processes || col < 0) return 0
  const seen = new Set<string>()
  let bytes = 0
  let scanned = 0
  for (const proc of top.Processes) {
    const fds = `/proc/${proc[col]}/fd`
    for (const fd of await readdir(fds).catch(() => [] as string[])) {
      if (++scanned > MAX_OPEN_FILES_SCANNED) return bytes
      // The link reads as the path inside the container, marked when the file is gone.
      const target = await readlink(join(fds, fd)).catch(() => '')
      if (!target.startsWith(`${dir}/`) || !target.endsWith(' (deleted)')) continue
      const st = await stat(join(fds, fd)).catch(() => undefined)
      if (!st || seen.has(`${st.dev}:${st.ino}`)) continue
      seen.add(`${st.dev}:${st.ino}`)
      bytes += Math.max(st.size, st.blocks * 512)
    }
  }
  return bytes
}

/**
 * Attaches to a created container's stdout and stderr (before it starts, so nothing is missed);
 * `ended` settles when the output has ended.
 */
export async function attachOutput(
  container: Docker.Container,
  onOutput: (stream: 'stdout' | 'stderr', data: Buffer) => void,
): Promise<{ ended: Promise<void> }> {
  const stream = (await container.attach({
    stream: true,
    stdout: true,
    stderr: true,
  })) as unknown as Readable
  const ended = new Promise<void>((resolve) => {
    stream.once('end', resolve)
    stream.once('close', resolve)
    stream.once('error', () => resolve())
  })
  stream.on('data', demux(onOutput))
  return { ended }
}

/** Creates, fills and starts a job's container, streaming its output as it comes. */
export async function startContainer(
  docker: Docker,
  spec: ContainerSpec,
  onOutput: (stream: 'stdout' | 'stderr', data: Buffer) => void,
): Promise<RunningContainer> {
  const container = await docker.createContainer(jobContainerConfig(spec))
  const remove = () => container.remove({ force: true, v: true }).catch(() => undefined)
  try {
    // Root's files, which the job cannot change; the stage program copies them into its tmpfs.
    if (spec.files.length > 0) {
      await container.putArchive(await packArchive(spec.files), { path: JOB_STAGING_DIR })
    }
    const { ended } = await attachOutput(container, onOutput)
    await container.start()
    // Neither waits: a job's start is on the user's clock.
    const sampler = followUsage(container).catch(() => undefined)
    // Where /out's volume is on this host, when it can be seen from here (from an inspect the
    // exit makes anyway, or on first use).
    let outVolume: Promise<string | undefined> | undefined
    const inspect = () => container.inspect().catch(() => undefined)
    const outVolumeOf = (info?: ReturnType<typeof inspect>) =>
      (outVolume ??= (info ?? inspect()).then((i) => {
        const m = ((i?.Mounts ?? []) as Mount[]).find((v) => v.Destination === JOB_OUTPUT_DIR)
        return m?.Type === 'volume' && existsSync(m.Source) ? m.Source : undefined
      }))
    return {
      id: container.id,
      async wait() {
        const r = (await container.wait()) as { StatusCode: number }
        // The exit can be reported before the last output is read; give the stream a moment to drain.
        await Promise.race([ended, Bun.sleep(2000)])
        const followed = await sampler
        followed?.stop()
        const info = inspect()
        void outVolumeOf(info)
        const state = (await info)?.State
        const usage = followed?.usage() ?? { cpuMs: null, peakMemoryBytes: null }
        return { exitCode: r.StatusCode, oomKilled: state?.OOMKilled === true, usage }
      },
      kill: () =>
        container.kill().then(
          () => undefined,
          () => undefined,
        ),
      async outputUse(maxEntries: number) {
        const out = await outVolumeOf()
        if (!out) return undefined // not measurable from here
        // Under another OCI runtime (gVisor) the job's processes are not the host's to look at.
        const [tree, hidden] = await Promise.all([
          treeSize(out, maxEntries),
          spec.ociRuntime ? 0 : deletedButOpen(container, JOB_OUTPUT_DIR),
        ])
        return { bytes: tree.bytes + hidden, entries: tree.entries }
      },
      async outputs(maxBytes: number, maxEntries: number): Promise<JobOutputs> {
        // Most jobs leave /out empty; when it can be seen from here, skip asking Docker for an archive.
        const out = await outVolumeOf()
        if (out && (await readdir(out).catch(() => ['?'])).length === 0) {
          return { tooBig: false, entries: [], skipped: [], bytes: 0 }
        }
        const archive = (await container.getArchive({ path: JOB_OUTPUT_DIR })) as unknown as Readable
        try {
          const what = "the job's /out files"
          const contents = await readArchive(archive, { what, maxBytes, maxEntries, stripFirst: true })
          return { tooBig: false, ...contents }
        } catch (err) {
          if (err instanceof GridError && err.code === 'archive_too_big') {
            return { tooBig: true, why: err.message }
          }
          throw err
        } finally {
          archive.destroy()
        }
      },
      remove,
    }
  } catch (err) {
    await remove()
    throw err
  }
}
