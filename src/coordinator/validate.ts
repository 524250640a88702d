import type { z } from 'zod'
import { GridError } from '../errors'
import { readSmallBody } from './body-meter'

/** Reads and validates a JSON body; a 400 names the first field that is wrong. */
export async function parseBody<T extends z.ZodType>(req: Request, schema: T): Promise<z.infer<T>> {
  let json: unknown
  try {
    json = JSON.parse(await readSmallBody(req))
  } catch (err) {
    // The body's meter refused it (too large, too slow): that refusal, not "not JSON".
    if (err instanceof GridError) throw err
    throw new GridError('bad_request', 'the request body must be JSON')
  }
  const r = schema.safeParse(json)
  if (!r.success) {
    const issue = r.error.issues[0]
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : ''
    throw new GridError('bad_request', `${where}${issue?.message ?? 'invalid request'}`)
  }
  return r.data
}
