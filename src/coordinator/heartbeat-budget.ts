/**
 * The heartbeat budget (Nomad's `max_heartbeats_per_second`): the coordinator tells each worker how
 * often to beat so that all connected workers together send at most `perSecond` heartbeats, never
 * more often than `floorMs` (small grids beat as they always did) nor less often than `ceilingMs`.
 * A worker's silence timeout and its leases scale with the interval it was told, so a worker told
 * to beat every 40 s is neither closed as silent nor robbed of its leases at 20 s. Pure functions.
 */

/** How heartbeats are spread over the grid. */
export interface HeartbeatBudget {
  /** Heartbeats per second all connected workers together should stay under. */
  perSecond: number
  /** Shortest interval: what every worker of a small grid is told. */
  floorMs: number
  /** Longest interval, however large the grid. */
  ceilingMs: number
}

/** What the timeouts are at the floor interval; they keep their ratio to it at longer ones. */
export interface HeartbeatTimeouts {
  heartbeatMs: number
  silentMs: number
  leaseMs: number
}

/**
 * Growth the interval is sized ahead for: a grid growing one worker at a time gets a new interval
 * (one message to every worker) each time it grows a quarter, not at each connection.
 */
export const HEADROOM = 1.25

/** A grid must shrink this much below what its interval was sized for before workers are told to beat faster. */
export const SHRINK = 1.5

/** Spread of the intervals above the floor (+0..10%), so workers told at once drift apart, never above the budget. */
export const JITTER = 0.1

/** The interval that keeps `workers` heartbeats under the budget: workers / perSecond seconds, within floor..ceiling. */
export function intervalFor(workers: number, budget: HeartbeatBudget): number {
  const ms = Math.ceil((Math.max(0, workers) * 1000) / budget.perSecond)
  return Math.min(budget.ceilingMs, Math.max(budget.floorMs, ms))
}

/**
 * The base interval to tell every worker now that `workers` are connected and `currentMs` was
 * told, or undefined to keep it: a longer one as soon as the grid outgrows the budget (sized for a
 * quarter more workers), a shorter one only once the grid has shrunk well below what it was sized for.
 */
export function nextInterval(
  currentMs: number,
  workers: number,
  budget: HeartbeatBudget,
): number | undefined {
  const ahead = intervalFor(Math.ceil(workers * HEADROOM), budget)
  if (intervalFor(workers, budget) > currentMs) return ahead
  // Back at the floor, the grid beats as a small one again, however little it shrank to get there.
  if (ahead < currentMs && (ahead * SHRINK <= currentMs || ahead === budget.floorMs)) return ahead
  return undefined
}

/**
 * The interval one worker is told: the base, made up to 10% longer at random above the floor
 * (never past the ceiling) so beats spread out; exactly the floor for small grids.
 */
export function jittered(
  baseMs: number,
  budget: HeartbeatBudget,
  random: () => number = Math.random,
): number {
  if (baseMs <= budget.floorMs) return baseMs
  return Math.min(budget.ceilingMs, Math.round(baseMs * (1 + JITTER * random())))
}

/** How long a worker beating every `beatMs` may stay silent before its socket is closed. */
export function silenceFor(beatMs: number, t: HeartbeatTimeouts): number {
  return Math.round((t.silentMs * beatMs) / t.heartbeatMs)
}

/** How long a lease of a worker beating every `beatMs` lives from its last renewal. */
export function leaseFor(beatMs: number, t: HeartbeatTimeouts): number {
  return Math.round((t.leaseMs * beatMs) / t.heartbeatMs)
}
