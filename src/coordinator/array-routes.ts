import { Hono } from 'hono'
import { GridError } from '../errors'
import { type ArrayView, isFinal, type JobView } from '../protocol/api'
import type { Lifecycle } from './lifecycle'
import type { JobRow, QueuedJob, Store, UserRow } from './store'

type Env = { Variables: { user: UserRow } }

interface Deps {
  store: Store
  lifecycle: Lifecycle
  /** The API view of one job (as `GET /api/jobs/:id` answers; `explain` false skips why it waits). */
  view: (job: JobRow, owner: Pick<UserRow, 'name'>, explain?: boolean) => Promise<JobView>
}

/** An array's members, or a 404 that does not say whether someone else's exists. */
async function ownArray(store: Store, owner: UserRow, id: string): Promise<QueuedJob[]> {
  const members = await store.workflows.members(id)
  if (members.length === 0 || members[0]!.ownerId !== owner.id) {
    throw new GridError('array_not_found', `no array '${id}' among yours: 'gridx jobs' lists them`, {
      status: 404,
    })
  }
  return members
}

/** How many members are in each state. */
function counts(members: readonly QueuedJob[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const m of members) out[m.state] = (out[m.state] ?? 0) + 1
  return out
}

/** Arrays of jobs (`gridx submit --array`): one summary with its members; cancelling what has not ended. */
export const arrayRoutes = ({ store, lifecycle, view }: Deps) =>
  new Hono<Env>()
    .get('/:id', async (c) => {
      const user = c.get('user')
      const members = await ownArray(store, user, c.req.param('id'))
      const answer: ArrayView = {
        id: c.req.param('id'),
        owner: user.name,
        size: members.length,
        cap: members[0]!.arrayCap,
        counts: counts(members),
        // The members say why they wait only in their own view (each costs queries).
        members: await Promise.all(members.map((m) => view({ ...m, script: null }, user, false))),
      }
      return c.json(answer)
    })
    .post('/:id/cancel', async (c) => {
      const user = c.get('user')
      const id = c.req.param('id')
      const members = await ownArray(store, user, id)
      // Members that have not started first: none of them can start while the others are cancelled.
      const open = members.filter((m) => !isFinal(m.state))
      open.sort((a, b) => Number(a.state !== 'queued') - Number(b.state !== 'queued'))
      for (const m of open) await lifecycle.cancel(user, m.id)
      const after = await store.workflows.members(id)
      const answer: ArrayView = {
        id,
        owner: user.name,
        size: after.length,
        cap: after[0]!.arrayCap,
        counts: counts(after),
        members: await Promise.all(after.map((m) => view({ ...m, script: null }, user, false))),
      }
      return c.json(answer)
    })
