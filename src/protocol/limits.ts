import { GridError } from '../errors'
import { formatBytes } from './units'

/** Limits that both the client and the coordinator enforce on a submission. */
export const LIMITS = {
  scriptBytes: 4 * 1024 * 1024,
  args: 256,
  argBytes: 64 * 1024,
  maxTimeoutMs: 7 * 86_400_000,
  maxCpus: 256,
  /** The smallest CPU request: smaller ones would run for (almost) nothing. */
  minCpus: 0.01,
} as const

/**
 * A job's files are copied into its working directory, a tmpfs counted against its memory: the
 * error for files that cannot fit (checked by the client before uploading, and by the coordinator).
 */
export function filesExceedMemory(filesBytes: number, memoryBytes: number): GridError | undefined {
  if (filesBytes < memoryBytes) return undefined
  return new GridError(
    'files_exceed_memory',
    `the job's files (${formatBytes(filesBytes)}) do not fit in the ${formatBytes(memoryBytes)} of memory it asks for: its working directory is held in memory, so ask for more with --memory (more than ${formatBytes(filesBytes)}, plus what the job itself needs)`,
    { status: 400 },
  )
}
