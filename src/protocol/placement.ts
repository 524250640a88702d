import { imageAllowed } from './images'
import { formatBytes, formatDuration } from './units'

/** Whether a worker may be offered a job, and why none may: shared by the scheduler and the CLI. */

/** A job's working directory is a tmpfs, which gives every file whole pages of this size. */
export const WORKDIR_PAGE_BYTES = 4096

/** The room a file of `bytes` takes in a job's working directory. */
export function pagesFor(bytes: number): number {
  return Math.ceil(bytes / WORKDIR_PAGE_BYTES) * WORKDIR_PAGE_BYTES
}

/** What a job needs from a worker. */
export interface Needs {
  cpus: number
  memoryBytes: number
  timeoutMs: number
  image: string
  /** The most room its files (script and inputs) take in its working directory; null if unknown. */
  filesBytes: number | null
  /** True when it declares Python packages, which only a worker that prepares environments installs. */
  packages?: boolean | undefined
}

/** What a worker offers: its capacity and its owner's policy. */
export interface Offer {
  cpus: number
  memoryBytes: number
  maxTimeoutMs: number | null
  images: readonly string[]
  /** Size of each job's working directory; null when the worker does not say. */
  workdirBytes: number | null
  /** True when the worker prepares Python package environments. */
  packages?: boolean | undefined
}

/** True when the worker has the room and its owner's policy lets it run the job. */
export function accepts(w: Offer, job: Needs): boolean {
  return (
    w.cpus >= job.cpus &&
    w.memoryBytes >= job.memoryBytes &&
    (w.maxTimeoutMs === null || job.timeoutMs <= w.maxTimeoutMs) &&
    (w.workdirBytes === null || (job.filesBytes ?? 0) <= w.workdirBytes) &&
    imageAllowed(w.images, job.image) &&
    (!job.packages || w.packages === true)
  )
}

/** Why no connected worker accepts the job: the first requirement none of them meets. */
export function whyNoWorker(workers: readonly Offer[], job: Needs): string {
  const wait = 'it waits for a worker that does'
  if (!workers.some((w) => imageAllowed(w.images, job.image))) {
    const lists = [...new Set(workers.flatMap((w) => w.images))].slice(0, 8).join(', ')
    return `no connected worker runs image ${job.image} (their owners allow: ${lists}): ${wait}, or use --image with an allowed one`
  }
  if (!workers.some((w) => w.cpus >= job.cpus && w.memoryBytes >= job.memoryBytes)) {
    const cpus = Math.max(...workers.map((w) => w.cpus))
    const mem = Math.max(...workers.map((w) => w.memoryBytes))
    return `no connected worker offers ${job.cpus} CPUs and ${formatBytes(job.memoryBytes)} (the largest offers ${cpus} CPUs, ${formatBytes(mem)}): ${wait}, or lower --cpus / --memory`
  }
  if (job.packages && !workers.some((w) => w.packages)) {
    return `it needs Python packages and no connected worker installs them (their owners run 'gridx work --no-packages'): ${wait}, or submit with --no-deps and an image that has them`
  }
  const longest = Math.max(...workers.map((w) => w.maxTimeoutMs ?? Infinity))
  if (longest < job.timeoutMs) {
    return `no connected worker runs jobs longer than ${formatDuration(longest)} (this one asks for ${formatDuration(job.timeoutMs)}): ${wait}, or lower --timeout`
  }
  const roomiest = Math.max(...workers.map((w) => w.workdirBytes ?? Infinity))
  if (roomiest < (job.filesBytes ?? 0)) {
    return `no connected worker's working directory holds the job's ${formatBytes(job.filesBytes ?? 0)} of files (the largest is ${formatBytes(roomiest)}, set by its owner's --max-disk): ${wait}, or send less`
  }
  return `no single connected worker meets all of its needs (image ${job.image}, ${job.cpus} CPUs, ${formatBytes(job.memoryBytes)}, timeout ${formatDuration(job.timeoutMs)}): ${wait}`
}
