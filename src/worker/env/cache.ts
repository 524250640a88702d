import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { z } from 'zod'

const Entry = z.object({
  /** The Docker volume holding it. */
  volume: z.string(),
  bytes: z.number().int().min(0),
  lastUsedMs: z.number(),
})
/** One complete environment. */
export type CachedEnv = z.infer<typeof Entry>

const IndexFile = z.object({ v: z.literal(1), envs: z.record(z.string(), Entry) })

/**
 * The worker's index of complete environments, a small JSON file under its GRIDX_HOME. An
 * environment is complete once it is written here: a volume that is not (an install cut short by a
 * crash) is removed at start, never used.
 */
export class EnvIndex {
  private readonly envs = new Map<string, CachedEnv>()

  constructor(
    private readonly path: string,
    private readonly now: () => number = Date.now,
  ) {
    if (!existsSync(path)) return
    try {
      const parsed = IndexFile.safeParse(JSON.parse(readFileSync(path, 'utf8')))
      // A damaged index forgets its environments; their volumes are then removed as half-made.
      if (parsed.success) for (const [k, e] of Object.entries(parsed.data.envs)) this.envs.set(k, e)
    } catch {
      // As above.
    }
  }

  get(key: string): CachedEnv | undefined {
    return this.envs.get(key)
  }

  /** Records a complete environment, used now. */
  add(key: string, volume: string, bytes: number): void {
    this.envs.set(key, { volume, bytes, lastUsedMs: this.now() })
    this.save()
  }

  /** Marks an environment used now (least recently used ones go first). */
  touch(key: string): void {
    const e = this.envs.get(key)
    if (!e) return
    e.lastUsedMs = this.now()
    this.save()
  }

  delete(key: string): void {
    if (this.envs.delete(key)) this.save()
  }

  /** Every environment, least recently used first. */
  byAge(): [string, CachedEnv][] {
    return [...this.envs.entries()].sort((a, b) => a[1].lastUsedMs - b[1].lastUsedMs)
  }

  /** The bytes of all environments. */
  totalBytes(): number {
    let n = 0
    for (const e of this.envs.values()) n += e.bytes
    return n
  }

  /** The volumes of every complete environment. */
  volumes(): Set<string> {
    return new Set([...this.envs.values()].map((e) => e.volume))
  }

  private save(): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 })
    const tmp = `${this.path}.${process.pid}.tmp`
    writeFileSync(tmp, `${JSON.stringify({ v: 1, envs: Object.fromEntries(this.envs) }, null, 1)}\n`)
    renameSync(tmp, this.path)
  }
}
