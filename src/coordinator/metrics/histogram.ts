import { Family, type MetricOptions } from './family'
import { formatValue, header, labelSet } from './text'

/** One histogram series: counts per bucket (not yet cumulative), sum and count. */
export class HistogramChild {
  readonly counts: Float64Array
  sum = 0
  count = 0

  constructor(private readonly bounds: readonly number[]) {
    // One more than the bounds: the +Inf bucket.
    this.counts = new Float64Array(bounds.length + 1)
  }

  /** Records one observation (in the metric's base unit); NaN is ignored. */
  observe(v: number): void {
    if (Number.isNaN(v)) return
    const b = this.bounds
    let i = 0
    // A dozen bounds: a linear scan beats a binary search's branches at this size.
    while (i < b.length && v > b[i]!) i++
    this.counts[i]!++
    this.sum += v
    this.count++
  }
}

/** Options of a histogram: upper bounds of its buckets, increasing (+Inf is added). */
export interface HistogramOptions<L extends readonly string[]> extends MetricOptions<L> {
  buckets: readonly number[]
}

/** A histogram with fixed buckets and label names; bind children once with `labels`. */
export class Histogram<L extends readonly string[] = []> {
  private readonly family: Family<HistogramChild>
  private readonly bounds: readonly number[]

  constructor(opts: HistogramOptions<L>) {
    const b = opts.buckets
    if (b.length === 0 || b.some((x, i) => !Number.isFinite(x) || (i > 0 && x <= b[i - 1]!))) {
      throw new Error(`${opts.name}: buckets must be finite and increasing`)
    }
    this.bounds = [...b]
    this.family = new Family(opts, () => new HistogramChild(this.bounds))
  }

  /** The family's name. */
  get name(): string {
    return this.family.name
  }

  /** The series of these label values. */
  labels(...values: { [K in keyof L]: string }): HistogramChild {
    return this.family.child(values)
  }

  /** Records into the series without labels. */
  observe(v: number): void {
    this.family.child([]).observe(v)
  }

  /** Its lines in the text format: cumulative `_bucket{le}` up to `+Inf`, then `_sum` and `_count`. */
  expose(): string {
    const { name, help, labelNames } = this.family
    let out = header(name, help, 'histogram')
    for (const { values, child } of this.family.children) {
      let cumulative = 0
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += child.counts[i]!
        const le = i < this.bounds.length ? formatValue(this.bounds[i]!) : '+Inf'
        out += `${name}_bucket${labelSet(labelNames, values, `le="${le}"`)} ${formatValue(cumulative)}\n`
      }
      const set = labelSet(labelNames, values)
      out += `${name}_sum${set} ${formatValue(child.sum)}\n${name}_count${set} ${formatValue(child.count)}\n`
    }
    return out
  }
}
