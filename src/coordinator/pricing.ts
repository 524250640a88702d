import { MC_PER_CREDIT } from '../protocol/credits'

/** The price of compute: millicredits per CPU-minute (default 1 credit). */
export interface Price {
  mcPerCpuMinute: number
}

/** The default price: 1 credit per CPU-minute. */
export const DEFAULT_PRICE: Price = { mcPerCpuMinute: MC_PER_CREDIT }

/**
 * What `cpus` CPUs for `durationMs` cost, in millicredits: CPUs x started seconds x rate. Every
 * step rounds up (CPUs to the next thousandth, time to the next second, the product to the next
 * millicredit), so compute that was used never rounds down to nothing: a job that ran at all
 * with CPUs costs at least 1 millicredit. Integer arithmetic throughout.
 */
export function costOf(cpus: number, durationMs: number, price: Price): number {
  const seconds = Math.ceil(Math.max(0, durationMs) / 1000)
  // Through millionths first, so that float noise (0.29 * 1000 = 290.00000000000006) does not round up.
  const milliCpus = Math.ceil(Math.round(Math.max(0, cpus) * 1_000_000) / 1000)
  return Math.ceil((milliCpus * seconds * price.mcPerCpuMinute) / 60_000)
}

/**
 * The time a job is billed for: what its worker signed (when it reported), but never more than
 * the coordinator saw pass from the attempt's start (its `job.started`, or its assignment when no
 * start came) to `now`, nor more than the job's timeout. A worker cannot be paid for time that
 * did not pass.
 */
export function billedMs(
  job: { timeoutMs: number },
  since: number,
  now: number,
  claimedMs: number = Infinity,
): number {
  return Math.round(Math.max(0, Math.min(claimedMs, now - since, job.timeoutMs)))
}
