/**
 * A bounded map: past `max` entries the oldest goes (Map keeps insertion order). Caches of names
 * and owners must not grow with every job a long-running coordinator ever saw.
 */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>()

  constructor(private readonly max: number) {}

  get(key: K): V | undefined {
    return this.map.get(key)
  }

  set(key: K, value: V): void {
    if (this.map.has(key)) this.map.delete(key)
    else if (this.map.size >= this.max) {
      const oldest = this.map.keys().next()
      if (!oldest.done) this.map.delete(oldest.value)
    }
    this.map.set(key, value)
  }

  delete(key: K): void {
    this.map.delete(key)
  }

  get size(): number {
    return this.map.size
  }
}

/** Reads a name once per key and keeps it; concurrent askers share one read; a failed read answers undefined. */
export class NameCache {
  private readonly known: BoundedMap<string, string>
  private readonly reading = new Map<string, Promise<string | undefined>>()

  constructor(
    private readonly read: (key: string) => Promise<string | undefined>,
    max = 10_000,
  ) {
    this.known = new BoundedMap(max)
  }

  /** The name when known now, without a read. */
  peek(key: string): string | undefined {
    return this.known.get(key)
  }

  /** Learns a name from someone who knows it (a worker's hello), sparing a read. */
  learn(key: string, name: string): void {
    this.known.set(key, name)
  }

  /** The name, read when not yet known. */
  async get(key: string): Promise<string | undefined> {
    const known = this.known.get(key)
    if (known !== undefined) return known
    let r = this.reading.get(key)
    if (!r) {
      r = this.read(key)
        .catch(() => undefined)
        .then((name) => {
          this.reading.delete(key)
          if (name !== undefined) this.known.set(key, name)
          return name
        })
      this.reading.set(key, r)
    }
    return r
  }
}
