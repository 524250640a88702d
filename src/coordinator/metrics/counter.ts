import { Family, type MetricOptions } from './family'
import type { Collect } from './gauge'
import { formatValue, header, labelSet } from './text'

/** One counter series: only ever goes up. */
export class CounterChild {
  value = 0

  /** Adds `by` (1 unless said); a negative or non-finite amount is ignored, never a decrease. */
  inc(by = 1): void {
    if (by > 0 && Number.isFinite(by)) this.value += by
  }
}

/** Options of a counter: `collect` reads one kept elsewhere (by the kernel) at each scrape. */
export interface CounterOptions<L extends readonly string[]> extends MetricOptions<L> {
  collect?: Collect<L>
}

/** A counter (name ends in `_total`), with label names fixed up front; bind children once with `labels`. */
export class Counter<L extends readonly string[] = []> {
  private readonly family: Family<CounterChild>
  private readonly collectFn: Collect<L> | undefined

  constructor(opts: CounterOptions<L>) {
    if (!opts.name.endsWith('_total')) throw new Error(`counter ${opts.name} must end in _total`)
    this.family = new Family(opts, () => new CounterChild())
    this.collectFn = opts.collect
  }

  /** Reads a collected counter afresh; a counted one is left as is. */
  async collect(): Promise<void> {
    if (!this.collectFn) return
    this.family.clear()
    await this.collectFn((value, ...labels) => (this.family.child(labels).value = value))
  }

  /** The family's name. */
  get name(): string {
    return this.family.name
  }

  /** The series of these label values (one per label, in the declared order). */
  labels(...values: { [K in keyof L]: string }): CounterChild {
    return this.family.child(values)
  }

  /** Adds to the series without labels. */
  inc(by = 1): void {
    this.family.child([]).inc(by)
  }

  /** Its lines in the text format. */
  expose(): string {
    let out = header(this.family.name, this.family.help, 'counter')
    for (const { values, child } of this.family.children)
      out += `${this.family.name}${labelSet(this.family.labelNames, values)} ${formatValue(child.value)}\n`
    return out
  }
}
