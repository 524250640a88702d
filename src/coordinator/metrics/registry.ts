import { Counter, type CounterOptions } from './counter'
import { Gauge, type GaugeOptions } from './gauge'
import { Histogram, type HistogramOptions } from './histogram'

/** Anything the registry exposes. */
interface Exposed {
  readonly name: string
  collect?(): Promise<void>
  expose(): string
}

/** The coordinator's metrics, declared once at start-up, and their exposition for `GET /metrics`. */
export class Registry {
  private readonly metrics: Exposed[] = []
  private readonly names = new Set<string>()

  /** Declares a counter. */
  counter<const L extends readonly string[] = []>(opts: CounterOptions<L>): Counter<L> {
    return this.add(new Counter<L>(opts))
  }

  /** Declares a gauge (with `collect`, read at every scrape). */
  gauge<const L extends readonly string[] = []>(opts: GaugeOptions<L>): Gauge<L> {
    return this.add(new Gauge<L>(opts))
  }

  /** Declares a histogram. */
  histogram<const L extends readonly string[] = []>(opts: HistogramOptions<L>): Histogram<L> {
    return this.add(new Histogram<L>(opts))
  }

  private add<M extends Exposed>(m: M): M {
    if (this.names.has(m.name)) throw new Error(`metric ${m.name} is declared twice`)
    this.names.add(m.name)
    this.metrics.push(m)
    return m
  }

  /**
   * Every metric in the text format, collected gauges read first (together). A collector that
   * fails (the database is away) leaves its metric out of this scrape rather than failing it.
   */
  async expose(): Promise<string> {
    const read = await Promise.all(
      this.metrics.map(async (m) => {
        try {
          await m.collect?.()
          return true
        } catch {
          return false
        }
      }),
    )
    let out = ''
    for (let i = 0; i < this.metrics.length; i++) if (read[i]) out += this.metrics[i]!.expose()
    return out
  }
}
