import { z } from 'zod'
import { LIMITS } from './limits'
import { checkedText, lineProblem } from './text'
import { Requirements, RequiresPython } from './requirements-schema'
import { envProblem, jobNameProblem, labelsProblem } from './job-meta'
import { MAX_ARRAY_SPEC_CHARS } from './array-spec'

// What needs no zod lives in modules of its own, so a client can use it without building these
// schemas (most of the CPU a `gridx submit` spent starting); re-exported here, where it belongs.
export { filesExceedMemory, LIMITS } from './limits'
export { SIGNUP_MODES, type SignupMode } from './signup'

/** Account names: what `--user` accepts (ASCII only, so a name can never steer a terminal). */
export const UserName = z
  .string()
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,31}$/, 'user names are 2-32 letters, digits, "_", "." or "-"')

/** A script's file name in the job's working directory: one plain name, not `.` or `..`. */
export const ScriptName = checkedText(
  (name) =>
    lineProblem(name, 'script names', 128) ??
    (/[/\\]/.test(name) ? 'script names are plain file names, without / or \\' : undefined) ??
    (name === '.' || name === '..' ? `script names may not be '.' or '..'` : undefined),
)

/** A Docker image reference (`python:3.12-slim`, `registry:5000/team/img@sha256:...`). */
export const ImageName = checkedText(
  (image) =>
    lineProblem(image, 'image names', 256) ??
    (/\s/.test(image) ? 'image names may not contain spaces' : undefined) ??
    (/^[A-Za-z0-9][A-Za-z0-9._/:@-]*$/.test(image)
      ? undefined
      : 'image names are Docker references such as python:3.12-slim: letters, digits and . _ - / : @'),
)

/** Body of `POST /api/auth/register` and `POST /api/auth/login`. */
export const Credentials = z.object({
  user: UserName,
  password: z.string().min(8, 'passwords need at least 8 characters').max(1024),
})
export type Credentials = z.infer<typeof Credentials>

/** Body of `POST /api/auth/register`: credentials, and the invite code when sign-up is by invite. */
export const RegisterRequest = Credentials.extend({ invite: z.string().min(1).max(200).optional() })
export type RegisterRequest = z.infer<typeof RegisterRequest>

/** Answer to a successful registration. */
export const Registered = z.object({ user: z.string(), operator: z.boolean(), grantMc: z.number() })
export type Registered = z.infer<typeof Registered>

/** `GET /api/me`: who the token belongs to, and whether they are an operator. */
export const MeView = z.object({ user: z.string(), operator: z.boolean() })
export type MeView = z.infer<typeof MeView>

/** Longest an invite may stay valid. */
export const MAX_INVITE_MS = 365 * 86_400_000

/** Body of `POST /api/invites` (operators); what is left out takes the coordinator's defaults. */
export const CreateInvite = z.object({
  grantMc: z.int().min(0).max(1e15).optional(),
  uses: z.int().min(1).max(10_000).optional(),
  expiresInMs: z.int().min(60_000, 'invites last at least a minute').max(MAX_INVITE_MS).optional(),
})
export type CreateInvite = z.infer<typeof CreateInvite>

/** An invite as operators see it (`GET /api/invites`); never its code. */
export const InviteView = z.object({
  id: z.string(),
  createdBy: z.string(),
  grantMc: z.number(),
  uses: z.number(),
  used: z.number(),
  createdAt: z.string(),
  expiresAt: z.string(),
  revokedAt: z.string().nullable(),
  /** `void`: its maker is no longer an operator, so it admits no one (unless they are made one again). */
  state: z.enum(['active', 'expired', 'used', 'revoked', 'void']),
  /** Accounts made with it. */
  usedBy: z.array(z.string()),
})
export type InviteView = z.infer<typeof InviteView>

/** Answer to `POST /api/invites`: the only time the code is shown. */
export const NewInvite = InviteView.extend({ code: z.string() })
export type NewInvite = z.infer<typeof NewInvite>

/** Answer to a successful login. */
export const Session = z.object({ user: z.string(), token: z.string(), expiresAt: z.string() })
export type Session = z.infer<typeof Session>

// --- job environment, name and labels (issue 17) ---
/** A job's environment variables (`-e`, `--env-file`): checked names, bounded sizes, no `GRIDX_*`. */
export const JobEnv = z.record(z.string(), z.string()).superRefine((env, ctx) => {
  const why = envProblem(env)
  if (why) ctx.addIssue({ code: 'custom', message: why })
})
/** A job's name (`--name`): one line of visible text. */
export const JobName = checkedText(jobNameProblem)
/** A job's labels (`--label key=value`): checked keys, bounded values and count. */
export const JobLabels = z.record(z.string(), z.string()).superRefine((labels, ctx) => {
  const why = labelsProblem(labels)
  if (why) ctx.addIssue({ code: 'custom', message: why })
})
/** The fields of a submission for the job's environment, name and labels. */
const JobMetaFields = {
  env: JobEnv.optional(),
  name: JobName.optional(),
  labels: JobLabels.optional(),
}
// --- end of job environment, name and labels ---

/** Body of `POST /api/jobs`: either a script (run with python3) or a plain command in `image`. */
export const SubmitJob = z
  .object({
    image: ImageName,
    command: z.array(z.string().max(LIMITS.argBytes)).max(LIMITS.args).default([]),
    script: z
      .object({
        name: ScriptName,
        contentBase64: z.string().max(Math.ceil((LIMITS.scriptBytes * 4) / 3) + 4),
      })
      .optional(),
    args: z.array(z.string().max(LIMITS.argBytes)).max(LIMITS.args).default([]),
    timeoutMs: z.int().min(1000).max(LIMITS.maxTimeoutMs),
    cpus: z
      .number()
      .min(LIMITS.minCpus, `cpus must be at least ${LIMITS.minCpus}, the smallest CPU share that is billed`)
      .max(LIMITS.maxCpus),
    memoryBytes: z.int().min(6 * 1024 * 1024),
    /** Orders the submitter's own queued jobs: higher first (-100 to 100). */
    priority: z.int().min(-100).max(100).default(0),
    /** Input files: an archive uploaded first with `POST /api/uploads`, named by its SHA-256. */
    inputs: z
      .object({ sha256: z.string().regex(/^[0-9a-f]{64}$/, 'inputs.sha256 must be a SHA-256 digest') })
      .optional(),
    /** Python packages the job needs (PEP 508 names and versions; no URLs, paths or pip options). */
    requirements: Requirements.optional(),
    /** The script's `requires-python` (PEP 723), e.g. `>=3.10`. */
    requiresPython: RequiresPython.optional(),
    ...JobMetaFields,
    // --- Arrays and dependencies (issue 17) ---
    /** Makes an array of jobs in this one request (`0-99%10`, see array-spec.ts); the coordinator expands it. */
    array: z.string().max(MAX_ARRAY_SPEC_CHARS).optional(),
    /** Jobs (or arrays: all their members) that must end before this one starts. */
    after: z
      .array(z.string().regex(/^[a-z0-9]{12,13}$/, 'dependencies are job or array ids'))
      .max(100)
      .optional(),
    /** With `after`: start once they ended in any way (`--after-any`), not only when all succeeded. */
    afterAny: z.boolean().optional(),
  })
  .refine((j) => j.script !== undefined || j.command.length > 0, {
    message: 'a job needs a script or a command',
  })
export type SubmitJob = z.infer<typeof SubmitJob>

/** Every state a job can be in; the last three are final. */
export const JobState = z.enum(['queued', 'assigned', 'running', 'succeeded', 'failed', 'cancelled'])
export type JobState = z.infer<typeof JobState>

/** True for states a job never leaves. */
export function isFinal(state: JobState): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'cancelled'
}

/** A job as the API shows it to its owner. */
export const JobView = z.object({
  id: z.string(),
  owner: z.string(),
  state: JobState,
  image: z.string(),
  command: z.array(z.string()),
  scriptName: z.string().nullable(),
  args: z.array(z.string()),
  timeoutMs: z.number(),
  cpus: z.number(),
  memoryBytes: z.number(),
  attempt: z.number(),
  priority: z.number(),
  worker: z.string().nullable(),
  /** For a queued job: why it has not started yet. */
  waiting: z.string().nullable(),
  /** Its name (`--name`); null for none (and from older coordinators). */
  name: z.string().nullable().default(null),
  /** Its labels (`--label`); empty for none. */
  labels: z.record(z.string(), z.string()).default({}),
  /** The names of the environment variables it was given (`-e`); never their values. */
  envNames: z.array(z.string()).default([]),
  /** Python packages installed for it (canonical requirement lines); empty for none (and from older coordinators). */
  requirements: z.array(z.string()).default([]),
  /** Its `requires-python`; null when it says none. */
  requiresPython: z.string().nullable().default(null),
  exitCode: z.number().nullable(),
  outcome: z.string().nullable(),
  error: z.string().nullable(),
  /** Input files uploaded with the job. */
  inputs: z.object({ bytes: z.number() }).nullable(),
  /** Files the job left under /out (`gridx download`). */
  outputs: z.object({ bytes: z.number(), files: z.number() }).nullable(),
  /** What the job used, measured by its worker; null until it ends. */
  usage: z
    .object({ wallMs: z.number(), cpuMs: z.number().nullable(), peakMemoryBytes: z.number().nullable() })
    .nullable(),
  /**
   * The time the job was billed for: its worker's measure, but never more than the coordinator
   * saw pass while it ran, nor more than its timeout; null until it ends (and from older coordinators).
   */
  billedMs: z.number().nullable().default(null),
  /** Millicredits held in escrow at submission: the most the job can cost. */
  maxCostMc: z.number(),
  /** Millicredits the job cost once settled; null while it has not ended. */
  costMc: z.number().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  // --- Arrays and dependencies (issue 17); absent from older coordinators ---
  /** The array it is a member of and its index there; null for a lone job. */
  array: z.object({ id: z.string(), index: z.number(), cap: z.number().nullable() }).nullable().default(null),
  /** What it waits for (`--after`): each dependency and its state now; empty for none. */
  after: z.array(z.object({ id: z.string(), state: JobState })).default([]),
  /** True when `after` is `--after-any` (any ending will do). */
  afterAny: z.boolean().default(false),
})
export type JobView = z.infer<typeof JobView>

/** `GET /api/arrays/:id`: an array, counts of its members by state, and its members (by index). */
export const ArrayView = z.object({
  id: z.string(),
  owner: z.string(),
  size: z.number(),
  cap: z.number().nullable(),
  counts: z.record(z.string(), z.number()),
  members: z.array(JobView),
})
export type ArrayView = z.infer<typeof ArrayView>

/** Answer to `POST /api/jobs` with an array: the array and its members. */
export const SubmittedArray = z.object({ array: z.string(), jobs: z.array(JobView) })
export type SubmittedArray = z.infer<typeof SubmittedArray>

/** One line of the NDJSON stream of `GET /api/jobs/:id/output`. */
export const OutputEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('output'), stream: z.enum(['stdout', 'stderr']), data: z.string() }),
  z.object({
    type: z.literal('state'),
    state: JobState,
    worker: z.string().nullable(),
    /** Why a job went back to the queue (a worker's words among them: escape before showing). */
    reason: z.string().max(4096).nullable().default(null),
  }),
  z.object({ type: z.literal('end'), job: JobView }),
  /** Sent when nothing else was for a while (about 15 s), so proxies keep the stream open; carries nothing. */
  z.object({ type: z.literal('keepalive') }),
])
export type OutputEvent = z.infer<typeof OutputEvent>
/** The events of an output stream that carry something: what clients hand on. */
export type JobOutputEvent = Exclude<OutputEvent, { type: 'keepalive' }>

/** Answer to `POST /api/uploads`. */
export const UploadView = z.object({ sha256: z.string(), bytes: z.number(), files: z.number() })
export type UploadView = z.infer<typeof UploadView>

/** A connected worker as `gridx workers` shows it. */
export const WorkerView = z.object({
  id: z.string(),
  name: z.string(),
  owner: z.string(),
  slots: z.number(),
  busy: z.number(),
  cpus: z.number(),
  memoryBytes: z.number(),
  docker: z.string(),
  /** Image patterns its owner allows. */
  images: z.array(z.string()).default(['*']),
  /** Longest job timeout its owner allows; null for no limit. */
  maxTimeoutMs: z.number().nullable().default(null),
  /** Size of each job's working directory; null when the worker does not say. */
  workdirBytes: z.number().nullable().default(null),
  /** True when it installs Python packages for jobs that declare them (false from older coordinators). */
  packages: z.boolean().default(false),
  connectedAt: z.string(),
})
export type WorkerView = z.infer<typeof WorkerView>

/** `GET /health`. */
export const Health = z.object({
  /** `degraded`: up, but refusing what it cannot do (its disk is full); `reason` says why. */
  status: z.enum(['ok', 'degraded']),
  /** What is wrong while degraded, and who must act; null when ok (older coordinators omit it). */
  reason: z.string().nullable().optional(),
  version: z.string(),
  uptimeSeconds: z.number(),
  workers: z.number(),
  queuedJobs: z.number(),
  runningJobs: z.number(),
  /** The address the operator says users and workers should use (`--public-url`); older coordinators omit it. */
  publicUrl: z.string().nullable().optional(),
})
export type Health = z.infer<typeof Health>

/** The body of every API error. */
export const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) })

/** One line of a user's credit history. */
export const HistoryLine = z.object({
  seq: z.number(),
  at: z.string(),
  kind: z.enum(['grant', 'escrow', 'pay', 'refund']),
  job: z.string().nullable(),
  counterparty: z.string(),
  /** Signed millicredits, as seen by this user. */
  amountMc: z.number(),
  account: z.enum(['balance', 'escrow']),
  memo: z.string().nullable(),
})
export type HistoryLine = z.infer<typeof HistoryLine>

/** `GET /api/credits`: balance, escrow and a page of history (newest first). */
export const CreditsView = z.object({
  user: z.string(),
  balanceMc: z.number(),
  escrowMc: z.number(),
  history: z.array(HistoryLine),
  /** Pass as `before` to get the next (older) page; null when there is none. */
  next: z.number().nullable(),
})
export type CreditsView = z.infer<typeof CreditsView>

/** `POST /api/credits/grant` (operators only). */
export const GrantRequest = z.object({
  user: UserName,
  amountMc: z.int().positive().max(1e15),
  memo: z.string().max(200).optional(),
})
export type GrantRequest = z.infer<typeof GrantRequest>

/** `GET /api/credits/audit` (operators only): the ledger invariant. */
export const AuditView = z.object({
  minted: z.number(),
  balances: z.number(),
  escrow: z.number(),
  /** The maximum cost of every job not yet ended: what escrow must hold (absent from older coordinators). */
  escrowDue: z.number().optional(),
  mintBalance: z.number(),
  negativeAccounts: z.number(),
  transfers: z.number(),
  ok: z.boolean(),
  /** Who may grant credits and make invites now (the first account and today's --admin list). */
  operators: z.array(z.string()),
})
export type AuditView = z.infer<typeof AuditView>

/** One attempt of a job, as `gridx status` lists them. */
export const AttemptView = z.object({
  attempt: z.number(),
  worker: z.string(),
  assignedAt: z.string(),
  startedAt: z.string().nullable(),
  endedAt: z.string().nullable(),
  outcome: z.string().nullable(),
  reason: z.string().nullable(),
  signed: z.boolean(),
})
export type AttemptView = z.infer<typeof AttemptView>
