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

/** Millicredits as a person reads them (`12.5 credits`). */
export function credits(mc: number): string {
  return `${formatCredits(mc)} credits`
}

/** A moment as a `<time>`: machine-readable, shown in UTC to the second. */
export function When(props: { at: number | null | undefined }) {
  if (props.at === null || props.at === undefined) return <span class="muted">never</span>
  const iso = new Date(props.at).toISOString()
  return <time datetime={iso}>{`${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`}</time>
}

/** A duration in the largest unit that reads well (`90 s`, `12 min`, `3 h`). */
export function duration(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`
  if (ms < 172_800_000) return `${Math.round(ms / 3_600_000)} h`
  return `${Math.round(ms / 86_400_000)} d`
}
