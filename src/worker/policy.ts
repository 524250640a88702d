import { GridError } from '../errors'
import { DEFAULT_IMAGE_ALLOWLIST, imageAllowed, normalizeImage } from '../protocol/images'
import { formatBytes } from '../protocol/units'
import type { WorkerPolicy } from '../protocol/worker'
import type { EngineInfo } from './runtime'

/** Disk a job may fill in its working directory and /out unless the owner says otherwise. */
export const DEFAULT_MAX_DISK = 4 * 1024 ** 3

/** What a worker's owner decides, from `gridx work` flags or the config file. */
export interface PolicyChoices {
  maxCpus?: number | undefined
  maxMemoryBytes?: number | undefined
  maxTimeoutMs?: number | undefined
  /** Image patterns (`*` wildcard); the default allows python images. */
  images?: readonly string[] | undefined
  /** Whether missing images may be pulled (default yes). */
  pull?: boolean | undefined
  /** OCI runtime for job containers, e.g. runsc (gVisor). */
  ociRuntime?: string | undefined
  /** Size of each job's working directory, and the most it may write to /out (default 4 GiB). */
  maxDiskBytes?: number | undefined
}

/** The policy a worker runs under: what it offers the coordinator and what it checks itself. */
export interface Policy {
  cpus: number
  memoryBytes: number
  /** Sent in hello: the coordinator never offers a job outside it. */
  offer: WorkerPolicy
  /** The owner's allowlist, checked again on every job. */
  allow: readonly string[]
  pull: boolean
  ociRuntime: string | undefined
  maxDiskBytes: number
}

/**
 * Builds the policy from the owner's choices and the engine. With pulls off, the worker offers
 * only the allowed images it already has, so no job it cannot run is sent to it.
 */
export function buildPolicy(
  choices: PolicyChoices,
  engine: EngineInfo,
  localImages: readonly string[],
): Policy {
  if (choices.images && choices.images.some((i) => !i.trim() || (i.match(/\*/g) ?? []).length > 8)) {
    throw new GridError(
      'bad_images',
      `--images ${JSON.stringify(choices.images.join(','))}: give image patterns such as 'python:*' or 'ghcr.io/org/**' (at most 8 wildcards each)`,
    )
  }
  const allow = choices.images?.length ? [...choices.images] : [...DEFAULT_IMAGE_ALLOWLIST]
  const pull = choices.pull ?? true
  if (choices.maxCpus !== undefined && !(choices.maxCpus > 0)) {
    throw new GridError(
      'bad_cpus',
      `--max-cpus ${choices.maxCpus} must be a number above 0, such as 2 or 0.5`,
    )
  }
  if (choices.ociRuntime && !engine.runtimes.includes(choices.ociRuntime)) {
    throw new GridError(
      'no_runtime',
      `Docker at ${engine.endpoint} has no runtime '${choices.ociRuntime}' (it has: ${engine.runtimes.join(', ')}): install it and register it in /etc/docker/daemon.json ("runtimes"), then restart Docker; or drop --runtime`,
    )
  }
  let offered = allow
  if (!pull) {
    offered = [...new Set(localImages.filter((i) => imageAllowed(allow, i)).map(normalizeImage))]
    if (offered.length === 0) {
      throw new GridError(
        'no_images',
        `pulling is off (--no-pull) and no image here matches the allowlist (${allow.join(', ')}): pull or build one first ('docker pull python:3.12-slim'), or allow pulls`,
      )
    }
  }
  const cpus = Math.min(engine.cpus, choices.maxCpus ?? Infinity)
  const memoryBytes = Math.min(engine.memoryBytes, choices.maxMemoryBytes ?? Infinity)
  if (memoryBytes < 6 * 1024 * 1024) {
    throw new GridError(
      'bad_memory',
      `--max-memory ${formatBytes(memoryBytes)} is too small for any job: allow at least 6m (64m or more is sensible)`,
    )
  }
  const maxDiskBytes = choices.maxDiskBytes ?? DEFAULT_MAX_DISK
  return {
    cpus,
    memoryBytes,
    offer: { maxTimeoutMs: choices.maxTimeoutMs ?? null, images: offered, workdirBytes: maxDiskBytes },
    allow,
    pull,
    ociRuntime: choices.ociRuntime,
    maxDiskBytes,
  }
}
