/** Tunables of a coordinator, all in milliseconds or bytes. */
export interface Settings {
  /** How long a lease lives without a heartbeat renewing it. */
  leaseMs: number
  /** How often workers are asked to heartbeat. */
  heartbeatMs: number
  /** A worker socket silent this long is closed. */
  silentMs: number
  /** How often leases and silent sockets are checked. */
  sweepMs: number
  /** Output kept per job attempt; past it the job is stopped. */
  outputCapBytes: number
  /** Lifetime of a login token. */
  tokenTtlMs: number
}

/** Defaults for a coordinator. */
export const DEFAULT_SETTINGS: Settings = {
  leaseMs: 30_000,
  heartbeatMs: 5_000,
  silentMs: 20_000,
  sweepMs: 1_000,
  outputCapBytes: 16 * 1024 * 1024,
  tokenTtlMs: 30 * 86_400_000,
}

/** The time source, a seam so tests can move time by hand. */
export interface Clock {
  now(): number
}

/** Wall-clock time. */
export const systemClock: Clock = { now: () => Date.now() }
