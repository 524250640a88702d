import { MC_PER_CREDIT } from '../protocol/credits'
import { DEFAULT_SOCKET_BUDGET, type SocketBudget } from '../protocol/worker-limits'
import type { SignupMode } from '../protocol/api'
import type { PendingInvite } from './store/types'
import { DEFAULT_PRICE, type Price } from './pricing'
import { DEFAULT_THROTTLE, type ThrottleLimits } from './throttle'

/** Tunables of a coordinator: durations in milliseconds, sizes in bytes, credits in millicredits. */
export interface Settings {
  /** Price of compute. */
  price: Price
  /** Credits a new account starts with (an invite may say otherwise). */
  signupGrantMc: number
  /** Who may create an account after the first: holders of an invite, anyone, or no one. */
  signup: SignupMode
  /** The invite behind `gridx serve`'s join token while no account exists; the first account makes it. */
  firstInvite?: PendingInvite | undefined
  /** Tries a job gets when workers are lost under it (failures of its own code are final). */
  maxAttempts: number
  /** The most members one array (`gridx submit --array`) may have. */
  maxArray: number
  /** Accounts that are operators besides the first one registered, as of this start. */
  admins: readonly string[]
  /** How hard password guessing and sign-ups are slowed. */
  throttle: ThrottleLimits
  /** How long a lease lives without a heartbeat renewing it (of a worker told to beat every `heartbeatMs`). */
  leaseMs: number
  /**
   * How often workers of a small grid are asked to heartbeat: the shortest interval. Past
   * `heartbeatsPerSecond` workers are told to beat less often (see heartbeat-budget.ts), and their
   * `leaseMs` and `silentMs` grow in proportion.
   */
  heartbeatMs: number
  /** Heartbeats per second all connected workers together are kept under (Nomad's `max_heartbeats_per_second`). */
  heartbeatsPerSecond: number
  /** The longest interval a worker is told to heartbeat at, however large the grid. */
  maxHeartbeatMs: number
  /** A worker socket silent this long is closed (of a worker told to beat every `heartbeatMs`). */
  silentMs: number
  /** How often leases, deadlines and silent sockets are checked. */
  sweepMs: number
  /**
   * How long past its timeout a running job's worker has to report the result before the
   * coordinator ends the job itself (outcome timeout) and tells the worker to kill it.
   */
  deadlineGraceMs: number
  /**
   * How long past its timeout an assigned job may take to start (image pulls, input downloads)
   * before the coordinator takes it back and requeues it as a loss of the platform.
   */
  startAllowanceMs: number
  /** What one worker socket may send; past it the socket is closed (4429). */
  socketBudget: SocketBudget
  /** Stdout+stderr kept per job attempt; past it the worker stops the job (output_limit). */
  outputCapBytes: number
  /** Largest input archive a submission may upload. */
  maxInputBytes: number
  /** Most bytes of files a job may leave under /out; past it the job fails with output_limit. */
  maxOutputBytes: number
  /** Most files (and directories) in one input or output archive. */
  maxArchiveEntries: number
  /** How long uploaded inputs, and a job's /out files after it ends, are kept. */
  keepFilesMs: number
  /** Most bytes of archives one user keeps on the coordinator: uploads and /out files still kept. */
  quotaBytes: number
  /** How often archives past `keepFilesMs` are removed. */
  fileSweepMs: number
  /** Lifetime of a login token. */
  tokenTtlMs: number
  /**
   * An HTTP connection doing nothing this long is closed (Bun's `idleTimeout`, 1 s to 255 s); also
   * the time every request body gets before `minBodyRate` applies. The live-output stream is exempt.
   */
  idleTimeoutMs: number
  /** Slowest average rate, in bytes per second, a request body may arrive at after `idleTimeoutMs`. */
  minBodyRate: number
  /** Requests not yet logged in (logins, registrations, anything without a token) in flight per client address. */
  maxUnauthenticatedPerAddress: number
  /** Live-output streams (`gridx logs --follow`) one user may hold open at once. */
  maxFollowsPerUser: number
  /** Requests with bodies (job submissions, uploads) one logged-in user may have in flight at once. */
  maxBodiesPerUser: number
}

/** Defaults for a coordinator. */
export const DEFAULT_SETTINGS: Settings = {
  price: DEFAULT_PRICE,
  signupGrantMc: 100 * MC_PER_CREDIT,
  signup: 'invite',
  admins: [],
  throttle: DEFAULT_THROTTLE,
  maxAttempts: 3,
  maxArray: 10_000,
  leaseMs: 30_000,
  heartbeatMs: 5_000,
  heartbeatsPerSecond: 500,
  maxHeartbeatMs: 60_000,
  silentMs: 20_000,
  sweepMs: 1_000,
  deadlineGraceMs: 15_000,
  startAllowanceMs: 10 * 60_000,
  socketBudget: DEFAULT_SOCKET_BUDGET,
  outputCapBytes: 16 * 1024 * 1024,
  maxInputBytes: 512 * 1024 * 1024,
  maxOutputBytes: 512 * 1024 * 1024,
  maxArchiveEntries: 10_000,
  keepFilesMs: 7 * 86_400_000,
  quotaBytes: 2 * 1024 ** 3,
  fileSweepMs: 3_600_000,
  tokenTtlMs: 30 * 86_400_000,
  idleTimeoutMs: 30_000,
  minBodyRate: 32 * 1024,
  maxUnauthenticatedPerAddress: 64,
  maxFollowsPerUser: 32,
  maxBodiesPerUser: 16,
}

/** The time source, a seam so tests can move time by hand. */
export interface Clock {
  now(): number
}

/** Wall-clock time. */
export const systemClock: Clock = { now: () => Date.now() }
