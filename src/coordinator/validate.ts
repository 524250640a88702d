import type { z } from 'zod'
import { GridError } from '../errors'
import { readSmallBody } from './body-meter'

/** The first problem zod found, as the API words it (`field: message`). */
export function firstIssue(error: z.ZodError, fallback = 'invalid request'): string {
  const issue = error.issues[0]
  const where = issue?.path.length ? `${issue.path.join('.')}: ` : ''
  return `${where}${issue?.message ?? fallback}`
}

/** Validates a value (a JSON body, a form made into one); a 400 names the first field that is wrong. */
export function parseValue<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const r = schema.safeParse(value)
  if (!r.success) throw new GridError('bad_request', firstIssue(r.error))
  return r.data
}

/** Reads a JSON body (under the body meter's limits); a 400 when it is not JSON. */
export async function readJson(req: Request): Promise<unknown> {
  try {
    return JSON.parse(await readSmallBody(req))
  } catch (err) {
    // The body's meter refused it (too large, too slow): that refusal, not "not JSON".
    if (err instanceof GridError) throw err
    throw new GridError('bad_request', 'the request body must be JSON')
  }
}

/** Reads and validates a JSON body; a 400 names the first field that is wrong. */
export async function parseBody<T extends z.ZodType>(req: Request, schema: T): Promise<z.infer<T>> {
  return parseValue(schema, await readJson(req))
}
