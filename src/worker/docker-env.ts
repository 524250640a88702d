import type Docker from 'dockerode'
import { describe } from '../errors'
import { packArchive } from '../protocol/archive'
import { attachOutput, JOB_UID, lockedHostConfig } from './docker-run'
import { type EnvRuntime, TOOL_INPUT_DIR, type ToolExit, type ToolSpec } from './env/runtime'
import { TMPFS_INODES } from './runtime'

/** The container settings of a tool: locked in like a job, but on `spec.network` and without the stage program. */
export function toolContainerConfig(spec: ToolSpec): Docker.ContainerCreateOptions {
  const mounts: Docker.MountSettings[] = spec.volume
    ? [
        {
          Type: 'volume',
          Source: spec.volume.name,
          Target: spec.volume.target,
          ReadOnly: spec.volume.readOnly,
        },
      ]
    : []
  return {
    name: spec.name,
    Image: spec.image,
    // The image's own entry point is not ours to run: the command names its program.
    Entrypoint: [],
    Cmd: spec.cmd,
    Env: spec.env,
    WorkingDir: '/tmp',
    User: `${JOB_UID}:${JOB_UID}`,
    Labels: spec.labels,
    NetworkDisabled: spec.network === 'none',
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    OpenStdin: false,
    Volumes: { [TOOL_INPUT_DIR]: {} },
    HostConfig: {
      ...lockedHostConfig({ network: spec.network, memoryBytes: spec.memoryBytes, cpus: spec.cpus }),
      Mounts: mounts,
      Tmpfs: { '/tmp': `rw,nosuid,nodev,size=${spec.tmpBytes},nr_inodes=${TMPFS_INODES}` },
    },
  }
}

/** Package environments' Docker calls: tool containers and labelled volumes. */
export class DockerEnvRuntime implements EnvRuntime {
  constructor(private readonly docker: Docker) {}

  async imageId(ref: string): Promise<string> {
    const info = (await this.docker.getImage(ref).inspect()) as { Id: string }
    return info.Id
  }

  async hasNetwork(name: string): Promise<boolean> {
    try {
      await this.docker.getNetwork(name).inspect()
      return true
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return false
      throw err
    }
  }

  async runTool(
    spec: ToolSpec,
    onOutput: (stream: 'stdout' | 'stderr', data: Buffer) => void,
  ): Promise<ToolExit> {
    const container = await this.docker.createContainer(toolContainerConfig(spec))
    let timer: ReturnType<typeof setTimeout> | undefined
    let timedOut = false
    const kill = () => void container.kill().catch(() => undefined)
    try {
      if (spec.files.length > 0)
        await container.putArchive(await packArchive(spec.files), { path: TOOL_INPUT_DIR })
      // A fresh volume's root is root's; the tool (the job's user) writes only in the directories made here.
      if (spec.volume && !spec.volume.readOnly && spec.volume.writableDirs?.length) {
        const dirs = spec.volume.writableDirs.map((path) => ({
          path,
          type: 'dir' as const,
          data: new Uint8Array(0),
          mode: 0o755,
        }))
        await container.putArchive(await packArchive(dirs, { uid: JOB_UID, gid: JOB_UID }), {
          path: spec.volume.target,
        })
      }
      const { ended } = await attachOutput(container, onOutput)
      // Stopped while being set up: never started, so nothing of it runs.
      if (spec.signal?.aborted)
        return { exitCode: null, oomKilled: false, timedOut: false, startError: 'stopped before it started' }
      try {
        await container.start()
      } catch (err) {
        return { exitCode: null, oomKilled: false, timedOut: false, startError: describe(err) }
      }
      timer = setTimeout(() => {
        timedOut = true
        kill()
      }, spec.timeoutMs)
      spec.signal?.addEventListener('abort', kill, { once: true })
      if (spec.signal?.aborted) kill()
      const r = (await container.wait()) as { StatusCode: number }
      await Promise.race([ended, Bun.sleep(2000)])
      const state = (
        (await container.inspect().catch(() => undefined)) as { State?: { OOMKilled?: boolean } } | undefined
      )?.State
      return { exitCode: r.StatusCode, oomKilled: state?.OOMKilled === true, timedOut }
    } finally {
      if (timer) clearTimeout(timer)
      spec.signal?.removeEventListener('abort', kill)
      await container.remove({ force: true, v: true }).catch(() => undefined)
    }
  }

  async createVolume(name: string, labels: Record<string, string>): Promise<void> {
    await this.docker.createVolume({ Name: name, Labels: labels })
  }

  async removeVolume(name: string): Promise<boolean> {
    try {
      await this.docker.getVolume(name).remove()
      return true
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode
      if (status === 404) return true
      if (status === 409) return false
      throw err
    }
  }

  async listVolumes(
    labels: Record<string, string>,
  ): Promise<{ name: string; labels: Record<string, string> }[]> {
    const filter = Object.entries(labels).map(([k, v]) => `${k}=${v}`)
    const r = (await this.docker.listVolumes({ filters: { label: filter } })) as {
      Volumes?: { Name: string; Labels?: Record<string, string> | null }[] | null
    }
    return (r.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} }))
  }
}
