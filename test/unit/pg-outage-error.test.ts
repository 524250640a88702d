import { describe, expect, test } from 'bun:test'
import { unavailable } from '../../src/db/postgres/errors'

// The 503 of a query that failed because PostgreSQL went away is shown to users and, as the
// reason of a degraded /health, to anyone: it must say what happened in the driver's words and
// never quote drizzle's wrapper, which carries the query and its parameters (a token's hash).
const URL = 'postgres://gridx:secret@db.lab:5432/gridx'

function wrapped(inner: Error): Error {
  return Object.assign(
    new Error(
      'Failed query: select "users"."id" from "tokens" where "tokens"."hash" = $1\nparams: 5dfba648bab382e2',
    ),
    { cause: inner },
  )
}

describe('unavailable: a lost database, in words fit for anyone', () => {
  test("a drizzle-wrapped dropped connection: the driver's message, not the query", () => {
    const inner = Object.assign(new Error('Connection closed'), { code: 'ERR_POSTGRES_CONNECTION_CLOSED' })
    const err = unavailable(wrapped(inner), URL)
    expect(err?.code).toBe('database_unreachable')
    expect(err?.status).toBe(503)
    expect(err?.message).toBe(
      'the PostgreSQL database at db.lab:5432 does not answer (Connection closed): the coordinator retries, and takes submissions again once it is back',
    )
  })

  test('a server shutting down (57P01) under the wrapper: no query, no parameters, no password', () => {
    const inner = Object.assign(new Error('terminating connection due to administrator command'), {
      errno: '57P01',
      code: 'ERR_POSTGRES_SERVER_ERROR',
    })
    const err = unavailable(wrapped(inner), URL)
    expect(err?.message).toContain('(terminating connection due to administrator command)')
    expect(err?.message).not.toMatch(/select|params|5dfba648|secret/)
  })

  test("a query's own error is not an outage", () => {
    const inner = Object.assign(new Error('duplicate key'), {
      errno: '23505',
      code: 'ERR_POSTGRES_SERVER_ERROR',
    })
    expect(unavailable(wrapped(inner), URL)).toBeUndefined()
  })
})
