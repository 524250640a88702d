import type { ArchiveEntry, Contents } from '../protocol/archive'
import type { Usage } from '../protocol/worker'

/** What the worker knows of its container engine. */
export interface EngineInfo {
  version: string
  cpus: number
  memoryBytes: number
  /** Where the engine was found, for messages. */
  endpoint: string
  /** OCI runtimes the engine offers (runc, runsc, ...). */
  runtimes: string[]
  /** Where the engine keeps its data (volumes under it), when it says. */
  rootDir?: string | undefined
  /** The engine's OS and CPU as it reports them (`linux`, `x86_64` or `aarch64`), when it says. */
  osType?: string | undefined
  arch?: string | undefined
}

/** Everything needed to start one job's container. */
export interface ContainerSpec {
  name: string
  /** A prepared image (see `ContainerRuntime.prepare`). */
  image: string
  cmd: string[]
  env: string[]
  /** The job's files (script and inputs), copied into its working directory before it starts. */
  files: ArchiveEntry[]
  /** Size of the job's working directory, a tmpfs (kernel-enforced; counts against its memory). */
  workdirBytes: number
  labels: Record<string, string>
  cpus: number
  memoryBytes: number
  /** The OCI runtime to use (e.g. runsc); undefined for the engine's default. */
  ociRuntime?: string | undefined
  /** A package environment's volume, mounted read-only (see src/worker/env). */
  envVolume?: { name: string; target: string } | undefined
}

/** How a container ended. */
export interface ContainerExit {
  exitCode: number
  oomKilled: boolean
  usage: Usage
}

/** The files a job left under /out, or `tooBig` (and which limit, in words) when they passed the limit. */
export type JobOutputs = ({ tooBig: false } & Contents) | { tooBig: true; why: string }

/** A started container. `wait` resolves once it exited and all its output was delivered. */
export interface RunningContainer {
  id: string
  wait(): Promise<ContainerExit>
  kill(): Promise<void>
  /**
   * What the job has written to /out so far (counting stops past `maxEntries`), or undefined when
   * this engine's volumes cannot be measured from here (a non-root worker, or a remote engine).
   */
  outputUse(maxEntries: number): Promise<{ bytes: number; entries: number } | undefined>
  /** Reads what the job left under /out (after it exited), up to `maxBytes` of file data. */
  outputs(maxBytes: number, maxEntries: number): Promise<JobOutputs>
  remove(): Promise<void>
}

/** The seam between the executor and a container engine (Docker in production). */
export interface ContainerRuntime {
  info(): Promise<EngineInfo>
  hasImage(ref: string): Promise<boolean>
  pull(ref: string, onProgress: (line: string) => void): Promise<void>
  /** Image references present on this engine (for the pull-free policy). */
  localImages(): Promise<string[]>
  /**
   * Derives from `ref` (once per image) an image whose /out and working directory belong to the
   * job's user, so they stay writable under a read-only root file system, and whose entry point
   * starts with the stage program (see src/worker/stage/stage.c); returns its reference.
   */
  prepare(ref: string): Promise<string>
  start(
    spec: ContainerSpec,
    onOutput: (stream: 'stdout' | 'stderr', data: Buffer) => void,
  ): Promise<RunningContainer>
  /** Removes this worker's containers (by label) except those of `keepJobs`; returns their job ids. */
  removeLeftovers(workerId: string, keepJobs?: ReadonlySet<string>): Promise<string[]>
}

/** The working directory of every job inside its container: a size-capped tmpfs. */
export const JOB_WORKDIR = '/gridx/job'

/**
 * Where the worker puts a job's files (a volume the job cannot write to), for the stage program
 * to copy into the working directory: a tmpfs does not exist until the container runs.
 */
export const JOB_STAGING_DIR = '/gridx/in'

/** The most files and directories a job may create in its working directory, and in /tmp. */
export const TMPFS_INODES = 262_144

/** The most files and directories a job's /out may hold to come back. */
export const MAX_OUTPUT_ENTRIES = 10_000

/** The stage program inside every prepared image. */
export const STAGE_PROGRAM = '/gridx/bin/stage'

/** Where a job leaves files to be returned to its submitter. */
export const JOB_OUTPUT_DIR = '/out'
