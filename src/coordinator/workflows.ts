import { GridError } from '../errors'
import { parseArraySpec } from '../protocol/array-spec'
import { isArrayId } from '../protocol/ids'
import type { SubmitJob } from '../protocol/api'
import type { JobRow, Store, UserRow } from './store'

/** The most jobs one job may wait for, arrays expanded. */
export const MAX_DEPENDENCIES = 10_000

/** What a submission with `array` or `after` makes: the members' indexes (none: one job) and what they wait for. */
export interface Plan {
  array: { indexes: number[]; cap: number | null } | undefined
  after: { ids: string[]; anyEnd: boolean } | undefined
}

/** True when a submission makes an array or waits for other jobs (the batch path of `Lifecycle.submit`). */
export function isBatch(req: SubmitJob): boolean {
  return req.array !== undefined || req.after !== undefined || req.afterAny !== undefined
}

/**
 * Checks and expands a submission's `array` and `after`: the spec within `maxArray`; every
 * dependency one of the owner's jobs or arrays (another user's answers as unknown, so ids are
 * not probed). A new job can only wait for jobs that exist, so no cycle can be made.
 */
export async function planBatch(
  store: Store,
  owner: UserRow,
  req: SubmitJob,
  maxArray: number,
): Promise<Plan> {
  let array: Plan['array']
  if (req.array !== undefined) {
    const spec = parseArraySpec(req.array, maxArray)
    if (typeof spec === 'string') throw new GridError('bad_array', spec, { status: 400 })
    array = spec
  }
  if (req.afterAny && !req.after?.length) {
    throw new GridError('bad_after', '--after-any needs --after ID[,ID...]: the jobs to wait for', {
      status: 400,
    })
  }
  const ids = new Set<string>()
  for (const id of req.after ?? []) {
    for (const dep of await resolve(store, owner, id)) ids.add(dep)
    if (ids.size > MAX_DEPENDENCIES) {
      throw new GridError(
        'bad_after',
        `a job may wait for at most ${MAX_DEPENDENCIES} jobs (arrays count all their members)`,
        {
          status: 400,
        },
      )
    }
  }
  return { array, after: ids.size > 0 ? { ids: [...ids], anyEnd: req.afterAny ?? false } : undefined }
}

/** The job ids an `--after` id stands for: the job, or every member of the array. */
async function resolve(store: Store, owner: UserRow, id: string): Promise<string[]> {
  if (isArrayId(id)) {
    const members = await store.workflows.members(id)
    if (members.length > 0 && members[0]!.ownerId === owner.id) return members.map((m) => m.id)
  } else {
    const job = await store.queue.job(id)
    if (job && job.ownerId === owner.id) return [id]
  }
  throw new GridError(
    'dependency_not_found',
    `--after ${id}: no job or array '${id}' among yours ('gridx jobs' lists them): a job can only wait for your own`,
    { status: 404 },
  )
}

/** What `gridx status` says a held job waits for: "waits for JOB (running), JOB (queued)". */
export function waitsFor(deps: readonly { id: string; state: JobRow['state'] }[]): string {
  const open = deps.filter((d) => d.state !== 'succeeded' && d.state !== 'failed' && d.state !== 'cancelled')
  const shown = open.slice(0, 5).map((d) => `${d.id} (${d.state})`)
  const more = open.length > shown.length ? ` and ${open.length - shown.length} more` : ''
  return `waits for ${shown.join(', ')}${more}: it starts once ${open.length > 1 ? 'they end' : 'it ends'}`
}
