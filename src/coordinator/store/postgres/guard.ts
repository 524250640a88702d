import { unavailable } from '../../../db/postgres/errors'
import type { DatabaseHealth } from '../types'

/**
 * Watches every query of the store: a failure because the database went away becomes the 503
 * `database_unreachable` (retryable), and the outage is remembered until a query succeeds again,
 * for `/health` and the log (told once when it starts, once when it ends).
 */
export class Outage implements DatabaseHealth {
  private down: string | undefined

  constructor(
    private readonly url: string,
    private readonly log: (line: string) => void,
  ) {}

  problem(): string | undefined {
    return this.down
  }

  /** Runs one store call, noting whether the database answered. */
  async watch<T>(call: () => Promise<T>): Promise<T> {
    try {
      const result = await call()
      if (this.down !== undefined) {
        this.down = undefined
        this.log('the database answers again; taking submissions')
      }
      return result
    } catch (err) {
      const lost = unavailable(err, this.url)
      if (!lost) throw err
      if (this.down === undefined) this.log(`${lost.message}; retrying with backoff`)
      this.down = lost.message
      throw lost
    }
  }

  /** The same repository, every method watched. */
  guard<R extends object>(repo: R): R {
    return new Proxy(repo, {
      get: (target, key, receiver) => {
        const value: unknown = Reflect.get(target, key, receiver)
        if (typeof value !== 'function') return value
        return (...args: unknown[]) =>
          this.watch(() => Promise.resolve((value as (...a: unknown[]) => unknown).apply(target, args)))
      },
    })
  }
}
