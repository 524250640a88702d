import { GridError } from '../errors'
import type { QueueRepo } from './store'

/** The shortest id prefix that is looked up (shorter ones match too many jobs to be meant). */
export const MIN_PREFIX = 4

/** Ids are 12 characters (src/protocol/ids.ts): a longer or equal text is a whole id or nothing. */
const ID_LENGTH = 12

/** How many candidates an ambiguous prefix lists. */
const SHOWN = 10

/**
 * The id of the owner's one job whose id starts with `prefix` (like git's short hashes), or
 * undefined when none does. Only this owner's jobs are searched, so a prefix reveals nothing of
 * anyone else's; two or more matches are refused (`ambiguous_job_id`) with the candidates named.
 */
export async function resolvePrefix(
  queue: Pick<QueueRepo, 'list'>,
  ownerId: string,
  prefix: string,
): Promise<string | undefined> {
  const p = prefix.toLowerCase()
  if (p.length < MIN_PREFIX || p.length >= ID_LENGTH || !/^[a-z0-9]+$/.test(p)) return undefined
  const found = await queue.list({ ownerId, idPrefix: p, limit: SHOWN + 1 })
  if (found.length <= 1) return found[0]?.id
  const names = found.slice(0, SHOWN).map((j) => (j.name ? `${j.id} (${j.name})` : j.id))
  const more = found.length > SHOWN ? ', and more' : ''
  throw new GridError(
    'ambiguous_job_id',
    `job id prefix '${prefix}' matches several of your jobs: ${names.join(', ')}${more}; give more of the id`,
    { status: 409 },
  )
}
