/**
 * Bounds on what a worker may claim or send. The coordinator believes no number a worker
 * reports: each is checked against these before it is used, and a message outside them is
 * refused like any malformed frame. They are far above what a real machine or an honest worker
 * reaches, so only a lie (or a bug) meets them.
 */
export const WORKER_LIMITS = {
  /** CPUs a worker may offer. */
  cpus: 1024,
  /** Memory (and working-directory size) a worker may offer: 64 TiB. */
  memoryBytes: 64 * 1024 ** 4,
  /** Job slots of one worker. */
  slots: 256,
  /** Leases listed in one hello or heartbeat (slots plus results awaiting their ack, with margin). */
  leases: 4096,
  /** Longest duration a worker may report or allow (a job's timeout is at most 7 days). */
  durationMs: 31 * 86_400_000,
  /** Attempt numbers (a job is tried a few times, plus once per drain hand-back). */
  attempt: 1_000_000,
  /** Output chunk numbers of one attempt. */
  seq: 1_000_000_000,
  /** Length of a job id in a lease. */
  jobId: 64,
  /** Length of version strings (the worker's and its Docker engine's). */
  version: 128,
  /** Length of an error message in a result, or the reason of a hand-back. */
  text: 4096,
  /** Length of a signed receipt body, and of its base64 signature. */
  receiptBody: 8192,
  signature: 128,
  /** Files in one /out archive. */
  files: 10_000_000,
} as const

/**
 * Output is sent in chunks of at most this many bytes (before base64); the coordinator refuses
 * a chunk of more than twice that.
 */
export const OUTPUT_CHUNK_BYTES = 64 * 1024

/** Longest `dataBase64` of one output chunk: twice the chunk size, base64-encoded. */
export const MAX_CHUNK_BASE64 = 4 * Math.ceil((2 * OUTPUT_CHUNK_BYTES) / 3)

/**
 * What one worker socket may send: a token bucket of messages and one of bytes, each refilled
 * at its rate up to its burst. Past either, the coordinator closes the socket (close code 4429).
 */
export interface SocketBudget {
  messagesPerSecond: number
  burstMessages: number
  bytesPerSecond: number
  burstBytes: number
}

/**
 * The coordinator's default budget. An honest worker with 256 slots sends a heartbeat every 5 s,
 * at most two output chunks per running job per flush window (25 ms, widening to 1 s as more jobs
 * run: see src/worker/output.ts), full chunks as fast as its byte pace allows, and one result per
 * job: some 700 messages a second at the very most. And it paces itself at `WORKER_PACE` of this
 * budget with one second's burst (src/worker/pacer.ts), whatever its jobs print, so it never
 * comes near. The bursts are small enough that a flood is cut off within a few milliseconds.
 */
export const DEFAULT_SOCKET_BUDGET: SocketBudget = {
  messagesPerSecond: 2000,
  burstMessages: 4000,
  bytesPerSecond: 16 * 1024 * 1024,
  burstBytes: 32 * 1024 * 1024,
}

/** The share of the coordinator's budget an honest worker allows itself. */
export const WORKER_PACE = 0.5
