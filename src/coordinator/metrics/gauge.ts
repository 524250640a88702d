import { Family, type MetricOptions } from './family'
import { formatValue, header, labelSet } from './text'

/** One gauge series: a value that goes up and down. */
export class GaugeChild {
  value = 0

  /** Sets the value. */
  set(v: number): void {
    this.value = v
  }

  /** Adds `by` (may be negative). */
  inc(by = 1): void {
    this.value += by
  }
}

/** How a gauge is read at scrape time: `set` each series (values not set this time are not shown). */
export type Collect<L extends readonly string[]> = (
  set: (value: number, ...labels: { [K in keyof L]: string }) => void,
) => void | Promise<void>

/** Options of a gauge: a `collect` callback makes it read afresh at every scrape. */
export interface GaugeOptions<L extends readonly string[]> extends MetricOptions<L> {
  collect?: Collect<L>
}

/** A gauge with label names fixed up front; a collected one is read at each scrape. */
export class Gauge<L extends readonly string[] = []> {
  private readonly family: Family<GaugeChild>
  private readonly collectFn: Collect<L> | undefined

  constructor(opts: GaugeOptions<L>) {
    this.family = new Family(opts, () => new GaugeChild())
    this.collectFn = opts.collect
  }

  /** The family's name. */
  get name(): string {
    return this.family.name
  }

  /** The series of these label values. */
  labels(...values: { [K in keyof L]: string }): GaugeChild {
    return this.family.child(values)
  }

  /** Sets the series without labels. */
  set(v: number): void {
    this.family.child([]).set(v)
  }

  /** Reads a collected gauge afresh (its old series are dropped first); a plain one is left as is. */
  async collect(): Promise<void> {
    if (!this.collectFn) return
    this.family.clear()
    await this.collectFn((value, ...labels) => this.family.child(labels).set(value))
  }

  /** Its lines in the text format. */
  expose(): string {
    let out = header(this.family.name, this.family.help, 'gauge')
    for (const { values, child } of this.family.children)
      out += `${this.family.name}${labelSet(this.family.labelNames, values)} ${formatValue(child.value)}\n`
    return out
  }
}
