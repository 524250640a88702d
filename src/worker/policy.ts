import { GridError } from '../errors'
import { DEFAULT_IMAGE_ALLOWLIST, imageAllowed, normalizeImage } from '../protocol/images'
import { formatBytes } from '../protocol/units'
import type { WorkerPolicy } from '../protocol/worker'
import type { PackagePolicy } from './env/environments'
import type { EngineInfo } from './runtime'

/** Disk a job may fill in its working directory and /out unless the owner says otherwise. */
export const DEFAULT_MAX_DISK = 4 * 1024 ** 3

/** The package index used unless the owner names another (PyPI's simple API). */
export const DEFAULT_PACKAGE_INDEX = 'https://pypi.org/simple'

/** Disk the cached package environments may take unless the owner says otherwise. */
export const DEFAULT_ENV_CACHE = 10 * 1024 ** 3

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
  /** Whether jobs that declare Python packages are taken (default yes). */
  packages?: boolean | undefined
  /** PEP 503 simple index the packages come from (default PyPI). */
  packageIndex?: string | undefined
  /** Docker network of the install step (default `bridge`). */
  installNetwork?: string | undefined
  /** Most disk the cached environments take (default 10 GiB). */
  envCacheBytes?: number | undefined
  /** Allow building packages from source (package code runs at install; default off: wheels only). */
  allowSource?: boolean | undefined
}

/** The owner's package choices, checked; null with `--no-packages`. */
export function packagePolicy(choices: PolicyChoices): PackagePolicy | null {
  if (choices.packages === false) return null
  const index = choices.packageIndex ?? DEFAULT_PACKAGE_INDEX
  let url: URL | undefined
  try {
    url = new URL(index)
  } catch {
    url = undefined
  }
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.search || url.hash) {
    throw new GridError(
      'bad_package_index',
      `--package-index ${JSON.stringify(index)}: give the URL of a PEP 503 simple index, such as https://pypi.org/simple or http://mirror.lan:3141/root/pypi/+simple`,
    )
  }
  const network = choices.installNetwork ?? 'bridge'
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(network) || network === 'host' || network === 'none') {
    throw new GridError(
      'bad_install_network',
      `--install-network ${JSON.stringify(network)}: name a Docker network the install step may use (the default is 'bridge'); 'host' is not allowed, and 'none' leaves no way to reach the index`,
    )
  }
  return {
    index: url.href.replace(/\/$/, ''),
    network,
    cacheBytes: choices.envCacheBytes ?? DEFAULT_ENV_CACHE,
    allowSource: choices.allowSource ?? false,
  }
}

/** The package index as it may be logged: without a password. */
export function shownIndex(index: string): string {
  const u = new URL(index)
  if (u.password) u.password = '***'
  return u.href
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
  /** Python package environments; null with `--no-packages`. */
  packages: PackagePolicy | null
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
  const packages = packagePolicy(choices)
  return {
    cpus,
    memoryBytes,
    offer: {
      maxTimeoutMs: choices.maxTimeoutMs ?? null,
      images: offered,
      workdirBytes: maxDiskBytes,
      packages: packages !== null,
    },
    allow,
    pull,
    ociRuntime: choices.ociRuntime,
    maxDiskBytes,
    packages,
  }
}
