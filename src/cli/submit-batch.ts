import type { ApiClient } from '../client/api'
import { GridError } from '../errors'
import type { SubmitJob } from '../protocol/api'
import { MAX_ARRAY_INDEX, parseArraySpec } from '../protocol/array-spec'
import { formatCredits } from '../protocol/credits'
import { note, out } from './options'

/** `--array`, `--after` and `--after-any` of `gridx submit`, checked before anything is sent. */
export function batchFields(flags: {
  array?: string | undefined
  after?: string | undefined
  afterAny?: boolean | undefined
}): Pick<SubmitJob, 'array' | 'after' | 'afterAny'> {
  const fields: Pick<SubmitJob, 'array' | 'after' | 'afterAny'> = {}
  if (flags.array !== undefined) {
    // The coordinator's own limit (serve --max-array) is checked there; this catches what no coordinator takes.
    const spec = parseArraySpec(String(flags.array), MAX_ARRAY_INDEX + 1)
    if (typeof spec === 'string') throw new GridError('bad_array', `--array: ${spec}`)
    fields.array = String(flags.array).trim()
  }
  if (flags.after !== undefined) {
    const ids = String(flags.after)
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
    const bad = ids.find((id) => !/^[a-z0-9]{12,13}$/.test(id))
    if (ids.length === 0 || bad !== undefined) {
      throw new GridError(
        'bad_after',
        `--after ${bad === undefined ? 'needs' : `'${bad}' is not a job or array id; it takes`} job or array ids separated by commas (--after ID[,ID...])`,
      )
    }
    fields.after = ids
  }
  if (flags.afterAny) {
    if (fields.after === undefined)
      throw new GridError('bad_after', '--after-any goes with --after ID[,ID...]: the jobs to wait for')
    fields.afterAny = true
  }
  return fields
}

/** `gridx submit --array`: makes every member in one request and prints the array's id (it does not follow them). */
export async function submitArray(
  api: ApiClient,
  job: SubmitJob,
  flags: { json?: boolean | undefined; quiet?: boolean | undefined; detach?: boolean | undefined },
): Promise<number> {
  const made = await api.submitArray(job)
  if (flags.json) {
    out(JSON.stringify(made))
    return 0
  }
  out(made.array)
  // --detach: the id alone, as a detached job's.
  if (!flags.quiet && !flags.detach) {
    const total = made.jobs.reduce((n, j) => n + j.maxCostMc, 0)
    const cap = made.jobs[0]?.array?.cap
    note(
      `gridx: array ${made.array} queued: ${made.jobs.length} jobs${cap ? `, at most ${cap} running at once` : ''}; it may cost up to ${formatCredits(total)} credits. Follow it with 'gridx status ${made.array}', stop it with 'gridx cancel ${made.array}'`,
    )
  }
  return 0
}
