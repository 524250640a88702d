// The zod schemas of a job's Python requirements; the checks themselves, which need no zod (the
// client runs them before it submits), are in ./requirements.
import { z } from 'zod'
import {
  isVersionClause,
  MAX_REQUIREMENT_CHARS,
  MAX_REQUIREMENTS,
  normaliseRequirements,
  REQUIRES_PYTHON_HINT,
} from './requirements'

/** A job's Python requirements on the wire: checked lines (see `normaliseRequirements`). */
export const Requirements = z
  .array(z.string().max(MAX_REQUIREMENT_CHARS))
  .max(MAX_REQUIREMENTS)
  .superRefine((lines, ctx) => {
    try {
      normaliseRequirements(lines)
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message })
    }
  })

/** A `requires-python` value (PEP 440 specifiers, e.g. `>=3.10`), checked like a requirement's versions. */
export const RequiresPython = z
  .string()
  .max(MAX_REQUIREMENT_CHARS)
  .refine((s) => s.split(',').every(isVersionClause), REQUIRES_PYTHON_HINT)
