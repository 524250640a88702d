import type { ArchiveEntry } from '../../protocol/archive'

/** The seam between package environments and the container engine (Docker in production). */
export interface EnvRuntime {
  /** The engine's id of a local image (`sha256:…`). */
  imageId(ref: string): Promise<string>
  /** True when the engine has a network of that name. */
  hasNetwork(name: string): Promise<boolean>
  /** Runs one short-lived tool container to its end (see `ToolSpec`). */
  runTool(spec: ToolSpec, onOutput: (stream: 'stdout' | 'stderr', data: Buffer) => void): Promise<ToolExit>
  createVolume(name: string, labels: Record<string, string>): Promise<void>
  /** Removes a volume; false when it is in use (a container still mounts it). Gone already is fine. */
  removeVolume(name: string): Promise<boolean>
  /** Volumes whose labels include all of `labels`. */
  listVolumes(labels: Record<string, string>): Promise<{ name: string; labels: Record<string, string> }[]>
}

/**
 * A tool container: the image's own programs, as the job's user, read-only root, no capabilities,
 * limits, on one network (often `none`), with `files` copied into `TOOL_INPUT_DIR` and at most one
 * volume mounted. Never the job's container, and none of the job's files.
 */
export interface ToolSpec {
  name: string
  /** The job's image as pulled (not the prepared one: no stage program is needed). */
  image: string
  cmd: string[]
  env: string[]
  files: ArchiveEntry[]
  volume?:
    | {
        name: string
        target: string
        readOnly: boolean
        /** Directories made in a writable volume, owned by the tool's user (the volume's root stays root's). */
        writableDirs?: string[]
      }
    | undefined
  /** Docker network mode: `none`, `bridge` or a network's name. */
  network: string
  cpus: number
  memoryBytes: number
  /** Size of its /tmp (memory-backed, within `memoryBytes`). */
  tmpBytes: number
  timeoutMs: number
  labels: Record<string, string>
  /** Aborting kills the container. */
  signal?: AbortSignal | undefined
}

/** How a tool container ended; `exitCode` null when it could not be started (`startError` says why). */
export interface ToolExit {
  exitCode: number | null
  oomKilled: boolean
  timedOut: boolean
  startError?: string | undefined
}

/** Where a tool finds the files put into it (an anonymous volume: the root file system is read-only). */
export const TOOL_INPUT_DIR = '/gridx/in'

/** Where an environment volume is mounted, in the install container (rw) and the job's (ro). */
export const ENV_MOUNT = '/gridx/env'

/** The installed packages' directory inside an environment (the job's PYTHONPATH). */
export const ENV_SITE = `${ENV_MOUNT}/site`
