import type { JobsQuery } from '../client/api'
import { GridError } from '../errors'
import { escapeTerminal } from '../protocol/terminal'
import { exitCodeFor } from './exit-codes'
import { note, out } from './options'

/** The flags of `gridx jobs` that choose which jobs it lists. */
export interface ListFlags {
  state?: string[]
  name?: string
  label?: string[]
  all?: boolean
  limit?: number
  /** `gridx jobs --everyone`: every user's jobs (operators). */
  everyone?: boolean
}

/** The states `--state` takes. */
const STATES = ['queued', 'assigned', 'running', 'succeeded', 'failed', 'cancelled'] as const

/** What `gridx jobs` lists without --all or --state: the jobs that have not ended. */
const LIVE = ['queued', 'assigned', 'running'] as const

/** The query of `gridx jobs` from its flags, checked before anything is sent. */
export function jobsQuery(flags: ListFlags): JobsQuery {
  const limit = flags.limit ?? 20
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
    throw new GridError(
      'bad_limit',
      `--limit takes a whole number from 1 to 1000 (got ${String(flags.limit)})`,
    )
  const given = (flags.state ?? []).flatMap((s) => s.split(',')).filter((s) => s !== '')
  for (const s of given) {
    if (!(STATES as readonly string[]).includes(s))
      throw new GridError('bad_state', `--state takes ${STATES.join(', ')} (got '${s}')`)
  }
  const labels: Record<string, string> = {}
  for (const text of flags.label ?? []) {
    const at = text.indexOf('=')
    if (at <= 0) throw new GridError('bad_label', `--label takes key=value (got '${text}')`)
    labels[text.slice(0, at)] = text.slice(at + 1)
  }
  return {
    limit,
    // --state says which; otherwise live jobs only, unless --all (like `docker ps -a`).
    states: given.length > 0 ? given : flags.all ? undefined : LIVE,
    ...(flags.name !== undefined && { name: flags.name }),
    ...(Object.keys(labels).length > 0 && { labels }),
    ...(flags.everyone && { everyone: true }),
  }
}

/** The job ids a command was given: `ids` (several) or `id` (one). */
export function idsOf(flags: { ids?: string[]; id?: string }): string[] {
  return flags.ids ?? (flags.id === undefined ? [] : [flags.id])
}

/**
 * Runs `step` for each id in turn. One id behaves as a plain command: its error is the command's.
 * With several, a failure is reported (on stderr, or as `{id, error}` under --json) and the
 * others still run; the exit code is then the first failure's. Under --json, one id prints its
 * result, several print an array.
 */
export async function eachJob(
  ids: readonly string[],
  flags: { json?: boolean },
  step: (id: string, first: boolean) => Promise<unknown>,
): Promise<number> {
  if (ids.length === 1) {
    const result = await step(ids[0]!, true)
    if (flags.json) out(JSON.stringify(result))
    return 0
  }
  const results: unknown[] = []
  let code = 0
  for (const [i, id] of ids.entries()) {
    try {
      results.push(await step(id, i === 0))
    } catch (err) {
      if (!(err instanceof GridError)) throw err
      if (code === 0) code = exitCodeFor(err.code)
      if (flags.json) results.push({ id, error: { code: err.code, message: err.message } })
      else note(`gridx: ${escapeTerminal(id)}: ${escapeTerminal(err.message)}`)
    }
  }
  if (flags.json) out(JSON.stringify(results))
  return code
}
