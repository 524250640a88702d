import type { Database, Statement } from 'bun:sqlite'

/**
 * Compiled statements kept per SQL text. drizzle asks its client to prepare every query anew,
 * and compiling the SQL was about a seventh of a coordinator's CPU under load (the dispatch
 * bench); the statement shapes are few, so each is compiled once and reused.
 */
const MAX_STATEMENTS = 1000

/**
 * The database as drizzle sees it, with `prepare` answered from a cache of compiled statements.
 * Safe because bun:sqlite runs each statement to completion synchronously, so no two callers
 * ever hold one statement mid-step; the cache is bounded (`inArray` makes one shape per length).
 */
export function cachedStatements(sqlite: Database): Database {
  const cache = new Map<string, Statement>()
  const prepare = (sql: string): Statement => {
    let stmt = cache.get(sql)
    if (stmt) return stmt
    stmt = sqlite.prepare(sql)
    if (cache.size >= MAX_STATEMENTS) {
      // Oldest first: the hot shapes are compiled early and asked again at once if dropped. Not
      // finalized: a query prepared once and kept (drizzle's `.prepare()`) may still hold it.
      const [oldest] = cache
      cache.delete(oldest![0])
    }
    cache.set(sql, stmt)
    return stmt
  }
  return new Proxy(sqlite, {
    get(target, key) {
      if (key === 'prepare') return prepare
      const value: unknown = Reflect.get(target, key, target)
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
    },
  })
}
