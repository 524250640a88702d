/** Summary statistics of a sample of durations in milliseconds. */
export interface Summary {
  n: number
  median: number
  p90: number
  min: number
  max: number
  mean: number
}

/** The `q` quantile (0..1) of a sample, linearly interpolated; NaN for an empty sample. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const pos = (sorted.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo)
}

/** Median, p90, min, max and mean of a sample. */
export function summarize(values: number[]): Summary {
  const n = values.length
  return {
    n,
    median: quantile(values, 0.5),
    p90: quantile(values, 0.9),
    min: n ? Math.min(...values) : Number.NaN,
    max: n ? Math.max(...values) : Number.NaN,
    mean: n ? values.reduce((a, b) => a + b, 0) / n : Number.NaN,
  }
}

/** Milliseconds, rounded for a table. */
export function ms(v: number): string {
  return Number.isFinite(v) ? `${Math.round(v)} ms` : '-'
}

/** Seconds with two decimals. */
export function sec(v: number): string {
  return Number.isFinite(v) ? `${(v / 1000).toFixed(2)} s` : '-'
}

/** Rounds every number to `digits` decimals (for results.json). */
export function round(v: number, digits = 1): number {
  const f = 10 ** digits
  return Math.round(v * f) / f
}

/** Left-aligned text columns. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}
