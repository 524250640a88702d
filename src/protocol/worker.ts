import { z } from 'zod'
import { Receipt } from './receipt'
import { Requirements, RequiresPython } from './requirements-schema'
import { singleLine } from './text'
import { MAX_CHUNK_BASE64, WORKER_LIMITS as MAX } from './worker-limits'

export { DEFAULT_SOCKET_BUDGET, OUTPUT_CHUNK_BYTES, type SocketBudget, WORKER_LIMITS } from './worker-limits'

/**
 * Version of the worker WebSocket protocol; both sides refuse any other, saying so plainly (see
 * `otherVersion`). 2 added `job.refused`, the socket budget in the welcome and paced output.
 */
export const PROTOCOL_VERSION = 2

/** WebSocket close codes used by the coordinator. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 4400,
  unauthorized: 4401,
  forbidden: 4403,
  silent: 4408,
  replaced: 4409,
  /** The socket sent more messages or bytes than its budget allows. */
  overBudget: 4429,
} as const

/** Identifies one attempt of one job; every report carries it so stale ones can be refused. */
export const LeaseRef = z.object({
  jobId: z.string().min(1).max(MAX.jobId),
  attempt: z.int().min(1).max(MAX.attempt),
})
export type LeaseRef = z.infer<typeof LeaseRef>

/**
 * Why a job ended on the worker. `exited` covers any exit code; `oom` is the kernel's out-of-memory
 * kill; `output_limit` means the job wrote more stdout/stderr or /out files than allowed; `error`
 * is a failure of the platform (Docker, image), not of the job.
 */
/** `install_failed`: the job's Python packages could not be installed; the job never started. */
export const Outcome = z.enum([
  'exited',
  'timeout',
  'oom',
  'output_limit',
  'cancelled',
  'error',
  'install_failed',
])
export type Outcome = z.infer<typeof Outcome>

/**
 * What a worker's owner lets it run, beyond its CPUs and memory (already capped in hello): jobs
 * outside it are never offered to the worker.
 */
export const WorkerPolicy = z.object({
  /** Longest --timeout accepted; null for no limit. */
  maxTimeoutMs: z.int().positive().max(MAX.durationMs).nullable(),
  /** Image patterns (`*` wildcard) the worker runs; with pulls off, the exact images it has. */
  images: z
    .array(
      z
        .string()
        .min(1)
        .max(256)
        .refine((p) => (p.match(/\*/g) ?? []).length <= 8, 'an image pattern may have at most 8 wildcards'),
    )
    .min(1)
    .max(256),
  /** Size of each job's working directory (a tmpfs); null when the worker does not say (older ones). */
  workdirBytes: z.int().positive().max(MAX.memoryBytes).nullable().default(null),
  /** True when the worker prepares Python package environments (`gridx work --packages`); older workers do not. */
  packages: z.boolean().optional(),
})
export type WorkerPolicy = z.infer<typeof WorkerPolicy>

/** What a job used, measured by the worker; null where the engine could not say. */
export const Usage = z.object({
  cpuMs: z
    .number()
    .min(0)
    .max(MAX.durationMs * MAX.cpus)
    .nullable(),
  peakMemoryBytes: z.number().min(0).max(MAX.memoryBytes).nullable(),
})
export type Usage = z.infer<typeof Usage>

/** Files a job left under /out, uploaded by the worker before it reported the result. */
export const Outputs = z.object({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.int().min(0).max(MAX.memoryBytes),
  files: z.int().min(0).max(MAX.files),
})
export type Outputs = z.infer<typeof Outputs>

/** What the coordinator sends a worker to run. */
export const JobSpec = z.object({
  jobId: z.string(),
  attempt: z.int().min(1),
  image: z.string(),
  command: z.array(z.string()),
  script: z.object({ name: z.string(), contentBase64: z.string() }).nullable(),
  args: z.array(z.string()),
  timeoutMs: z.int().positive(),
  cpus: z.number().positive(),
  memoryBytes: z.int().positive(),
  /** Input files (a tar archive the worker fetches under its lease), or null when there are none. */
  inputs: z
    .object({ sha256: z.string(), bytes: z.int().min(0) })
    .nullable()
    .default(null),
  /** Most stdout+stderr bytes; past it the worker stops the job (outcome output_limit). */
  logLimitBytes: z
    .int()
    .positive()
    .default(16 * 1024 * 1024),
  /** Most bytes of files under /out; past it the job fails with output_limit and nothing comes back. */
  outputLimitBytes: z
    .int()
    .positive()
    .default(512 * 1024 * 1024),
  /** Python packages to install before the job starts (checked, canonical lines); empty for none. */
  requirements: Requirements.default([]),
  /** The job's `requires-python` (PEP 723), checked against the image's Python; null when it says none. */
  requiresPython: RequiresPython.nullable().default(null),
  /**
   * The job's own environment variables (`-e`); the worker checks them again (`envProblem`) and
   * refuses a job whose environment it would not set. Empty from older coordinators.
   */
  env: z.record(z.string(), z.string()).default({}),
  // --- Arrays (issue 17) ---
  /** The job's array and its index there (`GRIDX_ARRAY_ID`, `GRIDX_ARRAY_INDEX`); null for a lone job. */
  array: z
    .object({ id: z.string().regex(/^[a-z0-9]{1,32}$/), index: z.int().min(0) })
    .nullable()
    .default(null),
})
export type JobSpec = z.infer<typeof JobSpec>

/** A signed receipt as a worker sends it: the body and signature of `Receipt`, bounded in length. */
const SentReceipt = Receipt.extend({
  body: z.string().max(MAX.receiptBody),
  signature: z.string().max(MAX.signature),
})

/** Leases a worker says it holds. */
const Leases = z.array(LeaseRef).max(MAX.leases)

/** Every message a worker may send; every number and length is bounded (see `WORKER_LIMITS`). */
export const WorkerMessage = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('hello'),
    v: z.literal(PROTOCOL_VERSION),
    workerId: z.string().regex(/^[a-zA-Z0-9_-]{8,64}$/),
    /** Shown to every user (`gridx workers`) and logged: one line of visible text. */
    name: singleLine('worker names', 64),
    version: z.string().max(MAX.version),
    slots: z.int().min(1).max(MAX.slots),
    cpus: z.number().positive().max(MAX.cpus),
    memoryBytes: z.int().positive().max(MAX.memoryBytes),
    docker: z.string().max(MAX.version),
    /** Ed25519 public key (base64); pinned to this worker id at its first connection. */
    publicKey: z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'publicKey must be a base64 Ed25519 key'),
    running: Leases,
    policy: WorkerPolicy.default({ maxTimeoutMs: null, images: ['*'], workdirBytes: null }),
    /** True when the worker follows `heartbeat.interval`; older workers keep the welcome's interval. */
    heartbeatUpdates: z.boolean().optional(),
  }),
  /** The worker stops taking new jobs (it is shutting down once its running jobs end). */
  z.object({ type: z.literal('drain') }),
  /** The worker gives a job back unfinished (drained out); it goes to another worker without counting as a failure. */
  z.object({ type: z.literal('job.release'), lease: LeaseRef, reason: z.string().max(MAX.text) }),
  z.object({ type: z.literal('heartbeat'), running: Leases }),
  z.object({ type: z.literal('job.started'), lease: LeaseRef }),
  z.object({
    type: z.literal('job.output'),
    lease: LeaseRef,
    seq: z.int().min(0).max(MAX.seq),
    stream: z.enum(['stdout', 'stderr']),
    /** Strict base64 (padded, no whitespace) of at most twice `OUTPUT_CHUNK_BYTES`. */
    dataBase64: z.base64('dataBase64 must be base64').max(MAX_CHUNK_BASE64),
  }),
  z.object({
    type: z.literal('job.result'),
    lease: LeaseRef,
    outcome: Outcome,
    exitCode: z.int().nullable(),
    error: z.string().max(MAX.text).nullable(),
    /** For `error`: true when another worker may well succeed (a Docker fault), false for a bad job. */
    retryable: z.boolean().default(false),
    durationMs: z.number().min(0).max(MAX.durationMs),
    usage: Usage.default({ cpuMs: null, peakMemoryBytes: null }),
    outputs: Outputs.nullable().default(null),
    /** Signed over (job, attempt, outcome, exit code, output digests, resource use). */
    receipt: SentReceipt,
  }),
])
export type WorkerMessage = z.infer<typeof WorkerMessage>

/** Every message the coordinator may send. */
export const CoordinatorMessage = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('welcome'),
    v: z.literal(PROTOCOL_VERSION),
    workerId: z.string(),
    heartbeatMs: z.int().positive(),
    /** What this socket may send (older coordinators do not say: the worker assumes the default). */
    budget: z
      .object({ messagesPerSecond: z.number().positive(), bytesPerSecond: z.number().positive() })
      .optional(),
  }),
  /**
   * Beat every `heartbeatMs` from now on (the grid grew or shrank: see the coordinator's heartbeat
   * budget); sent only to workers whose hello said `heartbeatUpdates`.
   */
  z.object({ type: z.literal('heartbeat.interval'), heartbeatMs: z.int().positive() }),
  z.object({ type: z.literal('job.assign'), job: JobSpec }),
  z.object({ type: z.literal('job.cancel'), lease: LeaseRef, reason: z.string() }),
  /** The result for this lease is recorded (now or before): the worker may forget it. */
  z.object({ type: z.literal('job.ack'), lease: LeaseRef }),
  /**
   * The result for this lease was not accepted. With `retry` the worker keeps it and sends it
   * again later (after its next welcome); without, it is final (the lease is not the worker's,
   * the receipt does not verify) and the worker drops it.
   */
  z.object({
    type: z.literal('job.refused'),
    lease: LeaseRef,
    code: z.string(),
    message: z.string(),
    retry: z.boolean(),
  }),
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
])
export type CoordinatorMessage = z.infer<typeof CoordinatorMessage>

/** Parses one text frame; returns a description of what is wrong instead of throwing. */
export function parseFrame<T>(
  schema: z.ZodType<T>,
  raw: string | Buffer | ArrayBuffer | Uint8Array,
): { ok: true; msg: T } | { ok: false; error: string } {
  let json: unknown
  try {
    json = JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw))
  } catch {
    return { ok: false, error: 'frame is not JSON' }
  }
  const r = schema.safeParse(json)
  if (!r.success) return { ok: false, error: z.prettifyError(r.error) }
  return { ok: true, msg: r.data }
}

/**
 * The version a `hello` or `welcome` frame that failed to parse says it speaks, when that is
 * not `PROTOCOL_VERSION` (so the refusal can say what to do rather than list schema errors).
 */
export function otherVersion(
  raw: string | Buffer | ArrayBuffer | Uint8Array,
  type: 'hello' | 'welcome',
): string | undefined {
  let json: unknown
  try {
    json = JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw))
  } catch {
    return undefined
  }
  if (typeof json !== 'object' || json === null) return undefined
  const { type: t, v } = json as { type?: unknown; v?: unknown }
  if (t !== type || v === PROTOCOL_VERSION) return undefined
  return typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : 'none'
}

/** What to do when a worker and its coordinator speak different protocol versions. */
export function versionAdvice(coordinator: string | number, worker: string | number): string {
  return `this coordinator speaks worker protocol ${coordinator} and this worker speaks ${worker}: install the same gridx release on the worker (gridx --version)`
}
