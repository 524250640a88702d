import Docker from 'dockerode'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { describe, GridError } from '../errors'
import type { ContainerRuntime, ContainerSpec, EngineInfo, RunningContainer } from './runtime'
import { tar } from './tar'

/** The largest file a job may write (ulimit fsize), in bytes. */
const FILE_SIZE_LIMIT = 1024 ** 3

/** The uid:gid jobs run as inside their container (nobody). */
export const JOB_UID = 65534

/** Where to look for a Docker engine, in order: DOCKER_HOST, then the usual sockets of each platform. */
export function dockerCandidates(env: {
  dockerHost: string | undefined
  home: string
  uid: number | undefined
  runtimeDir?: string | undefined
}): string[] {
  if (env.dockerHost) return [env.dockerHost]
  const uid = env.uid ?? 0
  const list = [
    '/var/run/docker.sock',
    '/run/docker.sock',
    env.runtimeDir ? join(env.runtimeDir, 'docker.sock') : `/run/user/${uid}/docker.sock`, // rootless
    join(env.home, '.docker/run/docker.sock'), // Docker Desktop (macOS, Linux)
    join(env.home, '.docker/desktop/docker.sock'),
    join(env.home, '.colima/default/docker.sock'),
    join(env.home, '.colima/docker.sock'),
    join(env.home, '.rd/docker.sock'), // Rancher Desktop
    '/run/podman/podman.sock',
    `/run/user/${uid}/podman/podman.sock`,
  ].map((p) => `unix://${p}`)
  if (process.platform === 'win32') list.unshift('npipe:////./pipe/docker_engine')
  return list
}

function clientFor(endpoint: string): Docker {
  const url = endpoint.replace(/^npipe:\/\//, 'npipe:')
  if (url.startsWith('unix://')) return new Docker({ socketPath: url.slice('unix://'.length) })
  if (url.startsWith('npipe:')) return new Docker({ socketPath: url.slice('npipe:'.length) })
  const u = new URL(url.replace(/^tcp:/, 'http:'))
  return new Docker({
    host: u.hostname,
    port: Number(u.port || 2375),
    protocol: u.protocol === 'https:' ? 'https' : 'http',
  })
}

/** Finds a Docker engine that answers, or explains exactly what to do. */
export async function connectDocker(candidates: string[]): Promise<DockerRuntime> {
  const present = candidates.filter((c) => !c.startsWith('unix://') || existsSync(c.slice('unix://'.length)))
  const failures: string[] = []
  for (const endpoint of present) {
    const docker = clientFor(endpoint)
    try {
      await docker.ping()
      return new DockerRuntime(docker, endpoint)
    } catch (err) {
      const e = err as { code?: string }
      failures.push(`${endpoint}: ${e.code === 'EACCES' ? 'permission denied' : describe(err)}`)
    }
  }
  if (failures.some((f) => f.includes('permission denied'))) {
    throw new GridError(
      'docker_denied',
      `the Docker socket is there but this user may not use it (${failures.join('; ')}): add yourself to the 'docker' group ('sudo usermod -aG docker $USER', then log in again), or run as root`,
    )
  }
  if (present.length > 0) {
    throw new GridError(
      'docker_down',
      `Docker does not answer (${failures.join('; ')}): start it with 'sudo systemctl start docker' (or start Docker Desktop)`,
      { retryable: true },
    )
  }
  throw new GridError(
    'docker_missing',
    `no Docker engine found (looked for ${candidates.join(', ')}): install Docker and start it ('sudo systemctl start docker'), or set DOCKER_HOST`,
  )
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

/** The production container runtime, through dockerode. */
export class DockerRuntime implements ContainerRuntime {
  constructor(
    private readonly docker: Docker,
    readonly endpoint: string,
  ) {}

  async info(): Promise<EngineInfo> {
    const [version, info] = await Promise.all([
      this.docker.version(),
      this.docker.info() as Promise<{ NCPU: number; MemTotal: number }>,
    ])
    return { version: version.Version, cpus: info.NCPU, memoryBytes: info.MemTotal, endpoint: this.endpoint }
  }

  async hasImage(ref: string): Promise<boolean> {
    try {
      await this.docker.getImage(ref).inspect()
      return true
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return false
      throw err
    }
  }

  /** Asks the image's registry whether it has `ref`, without pulling it (throws when it cannot say yes). */
  async inRegistry(ref: string): Promise<void> {
    await this.docker.getImage(ref).distribution()
  }

  async pull(ref: string, onProgress: (line: string) => void): Promise<void> {
    const stream = (await this.docker.pull(ref)) as Readable
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(
        stream,
        (err) => (err ? reject(err) : resolve()),
        (e: { status?: string; progress?: string; id?: string }) =>
          onProgress([e.id, e.status, e.progress].filter(Boolean).join(' ')),
      )
    })
  }

  async start(
    spec: ContainerSpec,
    onOutput: (stream: 'stdout' | 'stderr', data: Buffer) => void,
  ): Promise<RunningContainer> {
    // The root file system is read-only. The job's files go into an anonymous volume at the
    // first component of the working directory (e.g. /gridx), created with the job's uid so it
    // can write there; the volume is removed with the container.
    const dirs = spec.workdir.split('/').filter(Boolean)
    const volume = `/${dirs[0] ?? 'gridx'}`
    const container = await this.docker.createContainer({
      name: spec.name,
      Image: spec.image,
      Cmd: spec.cmd,
      Env: spec.env,
      WorkingDir: spec.workdir,
      User: `${JOB_UID}:${JOB_UID}`,
      Labels: spec.labels,
      NetworkDisabled: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      OpenStdin: false,
      Volumes: { [volume]: {} },
      HostConfig: {
        ReadonlyRootfs: true,
        NetworkMode: 'none',
        Memory: spec.memoryBytes,
        MemorySwap: spec.memoryBytes,
        NanoCpus: Math.round(spec.cpus * 1e9),
        PidsLimit: 512,
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        Init: true,
        Tmpfs: { '/tmp': 'rw,nosuid,nodev,size=256m' },
        Ulimits: [
          { Name: 'nofile', Soft: 1024, Hard: 1024 },
          { Name: 'core', Soft: 0, Hard: 0 },
          { Name: 'fsize', Soft: FILE_SIZE_LIMIT, Hard: FILE_SIZE_LIMIT },
        ],
        LogConfig: { Type: 'none', Config: {} },
      },
    })
    const remove = () => container.remove({ force: true, v: true }).catch(() => undefined)
    try {
      const inside = dirs.slice(1)
      const entries = inside.map((_, i) => ({
        path: inside.slice(0, i + 1).join('/'),
        mode: 0o755,
        uid: JOB_UID,
        gid: JOB_UID,
      }))
      for (const f of spec.files) {
        entries.push({
          path: [...inside, f.name].join('/'),
          data: f.data,
          mode: 0o644,
          uid: JOB_UID,
          gid: JOB_UID,
        } as never)
      }
      await container.putArchive(tar(entries), { path: volume })
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
      await container.start()
      return {
        id: container.id,
        async wait() {
          const r = (await container.wait()) as { StatusCode: number }
          // The exit can be reported before the last output is read; give the stream a moment to drain.
          await Promise.race([ended, Bun.sleep(2000)])
          const state = (await container.inspect().catch(() => undefined))?.State
          return { exitCode: r.StatusCode, oomKilled: state?.OOMKilled === true }
        },
        kill: () =>
          container.kill().then(
            () => undefined,
            () => undefined,
          ),
        remove,
      }
    } catch (err) {
      await remove()
      throw err
    }
  }

  async removeLeftovers(workerId: string, keepJobs: ReadonlySet<string> = new Set()): Promise<string[]> {
    const all = await this.docker.listContainers({
      all: true,
      filters: { label: [`gridx.worker=${workerId}`] },
    })
    const list = all.filter((c) => !keepJobs.has(c.Labels['gridx.job'] ?? ''))
    await Promise.all(
      list.map((c) =>
        this.docker
          .getContainer(c.Id)
          .remove({ force: true, v: true })
          .catch(() => undefined),
      ),
    )
    return list.map((c) => c.Labels['gridx.job'] ?? c.Id)
  }
}
