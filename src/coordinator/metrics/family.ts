import { checkLabelName, checkMetricName } from './text'

/** What every metric is declared with: its name, its help text and its label names, fixed up front. */
export interface MetricOptions<L extends readonly string[]> {
  name: string
  help: string
  labels?: L
}

/**
 * The children of a labelled metric, one per combination of label values, kept in a tree of Maps
 * (one level per label): finding a child is a Map lookup per label, with no key string built.
 */
export class Family<C> {
  readonly name: string
  readonly help: string
  readonly labelNames: readonly string[]
  private readonly root = new Map<string, unknown>()
  /** Every child with its label values, in creation order (the exposition's order). */
  readonly children: { values: readonly string[]; child: C }[] = []

  constructor(
    opts: MetricOptions<readonly string[]>,
    private readonly make: () => C,
  ) {
    checkMetricName(opts.name)
    for (const l of opts.labels ?? []) checkLabelName(l)
    if (new Set(opts.labels).size !== (opts.labels ?? []).length)
      throw new Error(`${opts.name}: label names repeat`)
    this.name = opts.name
    this.help = opts.help
    this.labelNames = opts.labels ?? []
  }

  /** The child for these label values (one per label name, in order), made on first use. */
  child(values: readonly string[]): C {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name} takes ${this.labelNames.length} label value(s), got ${values.length}`)
    }
    if (values.length === 0) return this.only()
    let level = this.root
    for (let i = 0; i < values.length - 1; i++) {
      const v = values[i]!
      let next = level.get(v) as Map<string, unknown> | undefined
      if (!next) level.set(v, (next = new Map()))
      level = next
    }
    const last = values[values.length - 1]!
    let child = level.get(last) as C | undefined
    if (child === undefined) {
      child = this.make()
      level.set(last, child)
      this.children.push({ values: [...values], child })
    }
    return child
  }

  private single: C | undefined
  private only(): C {
    if (this.single === undefined) {
      this.single = this.make()
      this.children.push({ values: [], child: this.single })
    }
    return this.single
  }

  /** Forgets every child (a gauge collected afresh at each scrape). */
  clear(): void {
    this.root.clear()
    this.children.length = 0
    this.single = undefined
  }
}
