// The answers a submit reads (a job, the workers, an error, an output event), checked by plain
// functions rather than the zod schemas of src/protocol/api.ts: loading zod and building those
// schemas was a third of a `gridx submit`'s CPU. Each check accepts what its schema accepts and
// returns what the schema's parse would (unknown keys dropped, defaults filled in); anything it
// refuses goes to the schema itself, which judges (and words any error), so a check can never
// refuse an answer the schema takes (test/unit/answers.test.ts holds each to its schema).
import type { z } from 'zod'
import type * as Api from '../protocol/api'
import type { ErrorBody, JobView, OutputEvent, UploadView, WorkerView } from '../protocol/api'

/** Returned by a field check for a value that does not fit. */
const NO = Symbol('no')
type Check = (v: unknown) => unknown

const string: Check = (v) => (typeof v === 'string' ? v : NO)
const number: Check = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : NO)
const boolean: Check = (v) => (typeof v === 'boolean' ? v : NO)
const nullable =
  (c: Check): Check =>
  (v) =>
    v === null ? null : c(v)
const oneOf =
  (...values: string[]): Check =>
  (v) =>
    values.includes(v as string) ? v : NO
const withDefault =
  (c: Check, fallback: () => unknown): Check =>
  (v) =>
    v === undefined ? fallback() : c(v)
const maxChars =
  (n: number): Check =>
  (v) =>
    typeof v === 'string' && v.length <= n ? v : NO

function array(c: Check): Check {
  return (v) => {
    if (!Array.isArray(v)) return NO
    const out: unknown[] = []
    for (const x of v) {
      const y = c(x)
      if (y === NO) return NO
      out.push(y)
    }
    return out
  }
}

function object(shape: Record<string, Check>): Check {
  return (v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return NO
    const o = v as Record<string, unknown>
    const out: Record<string, unknown> = {}
    for (const key in shape) {
      const y = shape[key]!(o[key])
      if (y === NO) return NO
      if (y !== undefined) out[key] = y
    }
    return out
  }
}

/** An object of strings (a job's labels). */
const stringMap: Check = (v) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return NO
  const out: Record<string, string> = {}
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (typeof x !== 'string') return NO
    out[k] = x
  }
  return out
}

const JOB_STATES = ['queued', 'assigned', 'running', 'succeeded', 'failed', 'cancelled']

const jobView = object({
  id: string,
  owner: string,
  state: oneOf(...JOB_STATES),
  image: string,
  command: array(string),
  scriptName: nullable(string),
  args: array(string),
  timeoutMs: number,
  cpus: number,
  memoryBytes: number,
  attempt: number,
  priority: number,
  worker: nullable(string),
  waiting: nullable(string),
  // Job environment, name and labels (issue 17); absent from older coordinators.
  name: withDefault(nullable(string), () => null),
  labels: withDefault(stringMap, () => ({})),
  envNames: withDefault(array(string), () => []),
  requirements: withDefault(array(string), () => []),
  requiresPython: withDefault(nullable(string), () => null),
  exitCode: nullable(number),
  outcome: nullable(string),
  error: nullable(string),
  inputs: nullable(object({ bytes: number })),
  outputs: nullable(object({ bytes: number, files: number })),
  usage: nullable(object({ wallMs: number, cpuMs: nullable(number), peakMemoryBytes: nullable(number) })),
  billedMs: withDefault(nullable(number), () => null),
  maxCostMc: number,
  costMc: nullable(number),
  createdAt: string,
  startedAt: nullable(string),
  finishedAt: nullable(string),
  // Arrays and dependencies (issue 17); absent from older coordinators.
  array: withDefault(nullable(object({ id: string, index: number, cap: nullable(number) })), () => null),
  after: withDefault(array(object({ id: string, state: oneOf(...JOB_STATES) })), () => []),
  afterAny: withDefault(boolean, () => false),
})

const workerView = object({
  id: string,
  name: string,
  owner: string,
  slots: number,
  busy: number,
  cpus: number,
  memoryBytes: number,
  docker: string,
  images: withDefault(array(string), () => ['*']),
  maxTimeoutMs: withDefault(nullable(number), () => null),
  workdirBytes: withDefault(nullable(number), () => null),
  packages: withDefault(boolean, () => false),
  connectedAt: string,
})

const EVENTS: ReadonlyMap<unknown, Check> = new Map(
  Object.entries({
    output: object({ type: string, stream: oneOf('stdout', 'stderr'), data: string }),
    state: object({
      type: string,
      state: oneOf(...JOB_STATES),
      worker: nullable(string),
      reason: withDefault(nullable(maxChars(4096)), () => null),
    }),
    end: object({ type: string, job: jobView }),
    keepalive: object({ type: string }),
  }),
)

/** The schemas, loaded only to judge an answer a check refused. */
type Schemas = typeof Api

/** Reads one answer: the value, or the schema's verdict when the check refuses it. */
export interface Answer<T> {
  /** The answer as its schema would parse it; undefined when this check cannot tell. */
  check(json: unknown): T | undefined
  schema(s: Schemas): z.ZodType<T>
}

function answer<T>(c: Check, schema: (s: Schemas) => z.ZodType<T>): Answer<T> {
  return {
    check: (json) => {
      const v = c(json)
      return v === NO ? undefined : (v as T)
    },
    schema,
  }
}

/** An answer read by its zod schema alone (the commands other than submit). */
export function bySchema<T>(schema: (s: Schemas) => z.ZodType<T>): Answer<T> {
  return { check: () => undefined, schema }
}

/** `JobView`. */
export const JOB = answer<JobView>(jobView, (s) => s.JobView)
/** `WorkerView[]`. */
export const WORKERS = answer<WorkerView[]>(array(workerView), (s) => s.WorkerView.array())
/** `UploadView`. */
export const UPLOAD = answer<UploadView>(
  object({ sha256: string, bytes: number, files: number }),
  (s) => s.UploadView,
)
/** `ErrorBody`. */
export const ERROR = answer<z.infer<typeof ErrorBody>>(
  object({ error: object({ code: string, message: string }) }),
  (s) => s.ErrorBody,
)
/** `OutputEvent`, of a type this client knows (see `KNOWN_EVENTS` in ./api). */
export const OUTPUT_EVENT = answer<OutputEvent>(
  (v) => EVENTS.get((v as { type?: unknown } | null)?.type)?.(v) ?? NO,
  (s) => s.OutputEvent,
)

/** Output event types this client knows; others (a later release's) are skipped. */
export const KNOWN_EVENTS: ReadonlySet<unknown> = new Set(EVENTS.keys())

/** Reads `json` as `a` says: its check, else its schema (loaded now). */
export async function read<T>(a: Answer<T>, json: unknown): Promise<z.ZodSafeParseResult<T>> {
  const v = a.check(json)
  if (v !== undefined) return { success: true, data: v }
  return a.schema(await import('../protocol/api')).safeParse(json)
}
