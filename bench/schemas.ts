import { z } from 'zod'

// The bench reads only the fields it needs, so it keeps working against older and newer binaries
// while src/protocol changes around it.

const State = z.enum(['queued', 'assigned', 'running', 'succeeded', 'failed', 'cancelled'])

/** The fields of a job the bench uses (`GET /api/jobs`). */
export const Job = z.object({
  id: z.string(),
  state: State,
  attempt: z.number(),
  exitCode: z.number().nullable(),
  error: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
})
export type Job = z.infer<typeof Job>

/** A connected worker (`gridx workers --json`). */
export const Worker = z.object({ id: z.string(), name: z.string() })

/** One NDJSON line of `GET /api/jobs/:id/output`; only output lines are looked at. */
export const OutputLine = z.object({
  type: z.string(),
  stream: z.string().optional(),
  data: z.string().optional(),
})

/** The counts of `GET /health` the bench waits on. */
export const Health = z.object({ queuedJobs: z.number(), runningJobs: z.number() })
export type Health = z.infer<typeof Health>
