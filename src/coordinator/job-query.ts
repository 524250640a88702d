import { GridError } from '../errors'
import { JobState } from '../protocol/api'
import { jobNameProblem, labelKeyProblem, META_LIMITS, splitPair } from '../protocol/job-meta'
import { requireOperator } from './auth'
import type { JobListing, UserRow } from './store'

/** The query of `GET /api/jobs` as hono hands it over: each parameter's values. */
export interface JobQueryParams {
  query(name: string): string | undefined
  queries(name: string): string[] | undefined
}

const bad = (message: string) => new GridError('bad_request', message, { status: 400 })

/**
 * The listing `GET /api/jobs` asks for, from its query (docs/API.md): `state` (one or several,
 * comma-separated or repeated; none: every state), `name` (a glob), `label=key=value` (repeated,
 * all must hold), `limit` (1 to 1000, 50 by default). The caller's own jobs; with `all=1`
 * everyone's, for operators only (403 `forbidden` for others, as every operator route answers).
 */
export function jobQuery(q: JobQueryParams, user: UserRow): JobListing {
  const all = q.query('all')
  if (all !== undefined && all !== '1' && all !== '0')
    throw bad(`all takes 1 (everyone's jobs, for operators) or 0 (got '${all}')`)
  if (all === '1') requireOperator(user)
  const limitText = q.query('limit')
  const limit = limitText === undefined ? 50 : Number(limitText)
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
    throw bad(`limit must be a whole number from 1 to 1000 (got '${limitText}')`)
  const listing: JobListing = { ownerId: all === '1' ? undefined : user.id, limit }
  const states = (q.queries('state') ?? []).flatMap((s) => s.split(',')).filter((s) => s !== '')
  if (states.length > 0) {
    listing.states = states.map((s) => {
      const r = JobState.safeParse(s)
      if (!r.success) throw bad(`state must be one of ${JobState.options.join(', ')} (got '${s}')`)
      return r.data
    })
  }
  const name = q.query('name')
  if (name !== undefined) {
    const why = jobNameProblem(name)
    if (why) throw bad(`name: ${why}`)
    listing.name = name
  }
  const labels = q.queries('label') ?? []
  if (labels.length > META_LIMITS.labels) throw bad(`at most ${META_LIMITS.labels} label filters`)
  if (labels.length > 0) {
    const wanted: Record<string, string> = {}
    for (const text of labels) {
      const pair = splitPair(text)
      if (!pair) throw bad(`label filters are key=value (got '${text}')`)
      const why = labelKeyProblem(pair.key)
      if (why) throw bad(`label: ${why}`)
      if (pair.value.length > META_LIMITS.labelValueChars)
        throw bad(`label values are at most ${META_LIMITS.labelValueChars} characters`)
      wanted[pair.key] = pair.value
    }
    listing.labels = wanted
  }
  return listing
}
