import { MC_PER_CREDIT } from '../protocol/credits'

/** The price of compute: millicredits per CPU-minute (default 1 credit). */
export interface Price {
  mcPerCpuMinute: number
}

/** The default price: 1 credit per CPU-minute. */
export const DEFAULT_PRICE: Price = { mcPerCpuMinute: MC_PER_CREDIT }

/**
 * What `cpus` CPUs for `durationMs` cost, in millicredits: CPUs x started seconds x rate,
 * rounded up to a whole millicredit. Integer arithmetic throughout (CPUs in thousandths).
 */
export function costOf(cpus: number, durationMs: number, price: Price): number {
  const seconds = Math.ceil(Math.max(0, durationMs) / 1000)
  const milliCpus = Math.round(cpus * 1000)
  return Math.ceil((milliCpus * seconds * price.mcPerCpuMinute) / 60_000)
}
