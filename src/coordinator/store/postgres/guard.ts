import { sqlState, unavailable } from '../../../db/postgres/errors'
import type { DatabaseHealth } from '../types'

/** deadlock_detected and serialization_failure: the transaction was rolled back, and may simply run again. */
const RETRIED_STATES = new Set(['40P01', '40001'])
/** Runs of a call that keeps losing such conflicts, before its error goes to the caller. */
const CONFLICT_TRIES = 4
/** The wait before a run again, times the run's number, plus up to as much at random (ms). */
const CONFLICT_WAIT_MS = 5

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

  /**
   * Runs one store call, noting whether the database answered. A call PostgreSQL chose as the
   * victim of a deadlock (or of a serialization failure) was rolled back whole, so it runs again,
   * a few times, after a short random wait: two coordinators (or a cancel and a dependency's
   * cascade) that locked the same rows in another order then both go through. Not `again`: a
   * call given a stream (an archive's chunks) could not read it twice.
   */
  async watch<T>(call: () => Promise<T>, again = true): Promise<T> {
    for (let tries = 1; ; tries++) {
      try {
        const result = await call()
        if (this.down !== undefined) {
          this.down = undefined
          this.log('the database answers again; taking submissions')
        }
        return result
      } catch (err) {
        if (again && tries < CONFLICT_TRIES && RETRIED_STATES.has(sqlState(err) ?? '')) {
          await Bun.sleep(CONFLICT_WAIT_MS * (1 + Math.random()) * tries)
          continue
        }
        const lost = unavailable(err, this.url)
        if (!lost) throw err
        if (this.down === undefined) this.log(`${lost.message}; retrying with backoff`)
        this.down = lost.message
        throw lost
      }
    }
  }

  /** The same repository, every method watched. */
  guard<R extends object>(repo: R): R {
    return new Proxy(repo, {
      get: (target, key, receiver) => {
        const value: unknown = Reflect.get(target, key, receiver)
        if (typeof value !== 'function') return value
        return (...args: unknown[]) =>
          this.watch(
            () => Promise.resolve((value as (...a: unknown[]) => unknown).apply(target, args)),
            !args.some(isStream),
          )
      },
    })
  }
}

/** An argument read as it arrives (an async iterable, a stream): it cannot be read again. */
function isStream(arg: unknown): boolean {
  return typeof arg === 'object' && arg !== null && Symbol.asyncIterator in arg
}
