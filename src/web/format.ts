import { formatCredits } from '../protocol/credits'
import { formatBytes, formatDuration } from '../protocol/units'

// How the dashboard writes times, sizes and credits: the CLI's words where it has them.

export { formatBytes, formatCredits, formatDuration }

/** A moment as people read it in a table: `2025-06-01 14:03:22` (UTC, as the coordinator logs it). */
export function when(ms: number | null): string {
  if (ms === null) return '–'
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19)
}

/** Seconds with two decimals (`1.25 s`), or `not measured`. */
export function seconds(ms: number | null): string {
  return ms === null ? 'not measured' : `${(ms / 1000).toFixed(2)} s`
}
