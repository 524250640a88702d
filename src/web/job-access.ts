import type { JobRow, UserRow } from '../coordinator/store'
import type { WebDeps } from './env'

/**
 * A job as the dashboard's viewer may see it: their own (the API's rule, its 404 words when it
 * is not), or anyone's for an operator, who may open every job's page and live output.
 */
export async function visibleJob(deps: WebDeps, user: UserRow, id: string): Promise<JobRow> {
  if (user.isAdmin) {
    const job = await deps.store.queue.job(id)
    if (job) return job
  }
  return deps.lifecycle.ownJob(user, id)
}
