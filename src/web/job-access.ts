import type { JobRow, UserRow } from '../coordinator/store'
import type { WebDeps } from './env'

/**
 * A job as the dashboard's viewer may see it: the API's rule, their own only (its 404 words when
 * it is not), for operators too — an operator sees everyone's jobs in the list, but a job's page,
 * live output, receipt and files are its owner's, as GET /api/jobs/:id answers them.
 */
export async function visibleJob(deps: WebDeps, user: UserRow, id: string): Promise<JobRow> {
  return deps.lifecycle.ownJob(user, id)
}
