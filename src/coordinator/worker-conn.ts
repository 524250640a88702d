import type { ServerWebSocket } from 'bun'
import type { WorkerPolicy } from '../protocol/worker'
import type { SocketAllowance, TokenBucket } from './budget'
import type { UserRow } from './store'

/** What the server keeps on each worker socket. */
export interface SocketData {
  user: UserRow
  conn?: WorkerConn
  /** What the socket may still send (made at its first frame). */
  allowance?: SocketAllowance
  /** The socket went over its budget and is being closed: its frames are dropped unread. */
  overBudget?: boolean
  /**
   * Its frames being handled, in lanes: one per lease (its start, output and result in order) and
   * one for the rest (hello, heartbeats, drain). Each frame waits for the one before it in its
   * lane (the store is async); different leases' frames do not wait for each other, so a worker
   * with many slots is not held to one database write at a time.
   */
  lanes?: Map<string, Promise<void>>
  /** How many frames wait in `lanes`. */
  pending?: number
}

/** A worker socket that has said hello. */
export interface WorkerConn {
  id: string
  name: string
  /** The gridx version the worker runs, as its hello said. */
  version: string
  owner: UserRow
  slots: number
  cpus: number
  memoryBytes: number
  docker: string
  /** What the worker's owner lets it run. */
  policy: WorkerPolicy
  connectedAt: number
  lastSeen: number
  /** Job ids this worker holds a lease for. */
  active: Set<string>
  /** Jobs assigned on this connection and not yet started: their start is never late (see the hub's `started`). */
  assignedHere: Set<string>
  /** The worker asked for no new jobs. */
  draining: boolean
  /** When its last heartbeat was acted on: more frequent ones are ignored (each costs a query). */
  lastBeat: number
  /** The interval it was last told to beat at (in the welcome, or a `heartbeat.interval` since). */
  toldMs: number
  /**
   * The interval its silence timeout and leases follow: `toldMs`, or until its next heartbeat the
   * longer one told before it (it may not have heard of a shorter one yet).
   */
  beatMs: number
  /** It follows `heartbeat.interval` messages (older workers keep the welcome's interval for good). */
  followsIntervals: boolean
  /** Results it may have checked (a signature check costs milliseconds); past it they are refused for a moment. */
  checks: TokenBucket
  /** Its pinned signing key (base64), as the hello found or pinned it: a worker id's key never changes. */
  publicKey: string | null
  socket: ServerWebSocket<SocketData>
}

/** Callback the hub uses to ask for a scheduling pass. */
export type Wake = () => void
