import Docker from 'dockerode'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { describe, GridError } from '../errors'
import { packArchive } from '../protocol/archive'
import { JOB_UID, startContainer } from './docker-run'
import { DockerEnvRuntime } from './docker-env'
import {
  type ContainerRuntime,
  type ContainerSpec,
  type EngineInfo,
  JOB_OUTPUT_DIR,
  JOB_STAGING_DIR,
  JOB_WORKDIR,
  type RunningContainer,
  STAGE_PROGRAM,
} from './runtime'
import { engineArch, type StageProgram, stageProgram } from './stage/program'

/** The repository of images prepared for jobs (see `prepare`). */
const PREPARED = 'gridx-prepared'

/** Changes whenever what `prepare` adds changes (the stage program's digest is added to it). */
const PREPARED_VERSION = 'v2'

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

/** Finds a Docker engine that answers, or explains exactly what to do; `dockerHost` is DOCKER_HOST, if set. */
export async function connectDocker(candidates: string[], dockerHost?: string): Promise<DockerRuntime> {
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
  // "set DOCKER_HOST" would mislead whoever already set it: the variable itself is what is wrong.
  if (dockerHost) {
    throw new GridError(
      'docker_missing',
      `DOCKER_HOST points at ${dockerHost}, where nothing listens (no such socket): fix DOCKER_HOST, or unset it to look in the usual places`,
    )
  }
  throw new GridError(
    'docker_missing',
    `no Docker engine found (looked for ${candidates.join(', ')}): install Docker and start it ('sudo systemctl start docker'), or set DOCKER_HOST`,
  )
}

/** The production container runtime, through dockerode. */
export class DockerRuntime implements ContainerRuntime {
  constructor(
    private readonly docker: Docker,
    readonly endpoint: string,
  ) {}

  /** The Docker calls of package environments, on the same engine. */
  envRuntime(): DockerEnvRuntime {
    return new DockerEnvRuntime(this.docker)
  }

  async info(): Promise<EngineInfo> {
    const [version, info] = await Promise.all([
      this.docker.version(),
      this.docker.info() as Promise<{
        NCPU: number
        MemTotal: number
        Runtimes?: Record<string, unknown>
        DockerRootDir?: string
        OSType?: string
        Architecture?: string
      }>,
    ])
    return {
      version: version.Version,
      cpus: info.NCPU,
      memoryBytes: info.MemTotal,
      endpoint: this.endpoint,
      runtimes: Object.keys(info.Runtimes ?? { runc: {} }),
      rootDir: info.DockerRootDir,
      osType: info.OSType,
      arch: info.Architecture,
    }
  }

  private stage: Promise<StageProgram> | undefined

  /**
   * The stage program for the architecture the engine runs (Docker Desktop's Linux VM may be
   * arm64 or x64 whatever this machine's own OS), asked once. An engine that runs Windows
   * containers cannot run it at all.
   */
  engineStage(): Promise<StageProgram> {
    this.stage ??= (async () => {
      const info = (await this.docker.info()) as { OSType?: string; Architecture?: string }
      if (info.OSType && info.OSType !== 'linux') {
        throw new GridError(
          'docker_not_linux',
          `the Docker engine at ${this.endpoint} runs ${info.OSType} containers; gridx jobs are Linux containers: switch Docker Desktop to Linux containers (its menu: "Switch to Linux containers...")`,
        )
      }
      const arch = engineArch(info.Architecture)
      if (!arch) {
        throw new GridError(
          'no_stage_for_engine',
          `the Docker engine at ${this.endpoint} runs on a CPU gridx has no stage program for (${info.Architecture ?? 'it did not say'}); gridx runs jobs on x64 (x86_64) and arm64 (aarch64) engines`,
        )
      }
      return stageProgram(arch)
    })()
    this.stage.catch(() => (this.stage = undefined))
    return this.stage
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

  async localImages(): Promise<string[]> {
    const list = await this.docker.listImages()
    return list
      .flatMap((i) => i.RepoTags ?? [])
      .filter((t) => t !== '<none>:<none>' && !t.startsWith(`${PREPARED}:`))
  }

  async prepare(ref: string): Promise<string> {
    const base = (await this.docker.getImage(ref).inspect()) as {
      Id: string
      Config?: { Entrypoint?: string[] | null }
    }
    const id = base.Id.replace(/^sha256:/, '').slice(0, 24)
    // A changed stage program makes a new tag, so images prepared by another gridx are not used.
    const stage = await this.engineStage()
    const version = `${id}-${PREPARED_VERSION}-${stage.digest}`
    const tag = `${PREPARED}:${version}`
    if (await this.hasImage(tag)) return tag
    // Made by committing a never-started container of the image with gridx's directories and
    // stage program added, and the stage program put in front of the image's own entry point.
    const c = await this.docker.createContainer({
      Image: ref,
      Cmd: ['true'],
      NetworkDisabled: true,
      Labels: { 'gridx.prepare': ref },
      HostConfig: { NetworkMode: 'none' },
    })
    try {
      const dir = (path: string) => ({
        path: path.slice(1),
        type: 'dir' as const,
        data: new Uint8Array(0),
        mode: 0o755,
      })
      // Root's: the program and the staging directory, which the job may read but not change.
      const program = {
        path: STAGE_PROGRAM.slice(1),
        type: 'file' as const,
        data: stage.bytes,
        mode: 0o755,
      }
      const fixed = [dir('/gridx'), dir('/gridx/bin'), program, dir(JOB_STAGING_DIR)]
      await c.putArchive(await packArchive(fixed), { path: '/' })
      // The job's own: its working directory (the mount point of its tmpfs) and /out.
      const own = [dir(JOB_WORKDIR), dir(JOB_OUTPUT_DIR)]
      await c.putArchive(await packArchive(own, { uid: JOB_UID, gid: JOB_UID }), { path: '/' })
      const entrypoint = [
        STAGE_PROGRAM,
        JOB_STAGING_DIR,
        JOB_WORKDIR,
        '--',
        ...(base.Config?.Entrypoint ?? []),
      ]
      await c.commit({
        repo: PREPARED,
        tag: version,
        comment: `gridx: ${ref} with job directories and the stage program`,
        changes: `ENTRYPOINT ${JSON.stringify(entrypoint)}`,
      })
      await this.removeOlderPrepared(id, tag)
      return tag
    } finally {
      await c.remove({ force: true }).catch(() => undefined)
    }
  }

  /** Removes what an older gridx prepared from the same image (best effort: one in use stays). */
  private async removeOlderPrepared(id: string, keep: string): Promise<void> {
    const list = await this.docker
      .listImages({ filters: { reference: [`${PREPARED}:${id}-*`] } })
      .catch(() => [])
    const old = list.flatMap((i) => i.RepoTags ?? []).filter((t) => t !== keep)
    await Promise.all(
      old.map((t) =>
        this.docker
          .getImage(t)
          .remove()
          .catch(() => undefined),
      ),
    )
  }

  start(
    spec: ContainerSpec,
    onOutput: (stream: 'stdout' | 'stderr', data: Buffer) => void,
  ): Promise<RunningContainer> {
    return startContainer(this.docker, spec, onOutput)
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
