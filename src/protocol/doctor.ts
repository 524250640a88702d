import { z } from 'zod'

/** How one `gridx doctor` check came out. */
export const CheckStatus = z.enum(['ok', 'fail', 'warn', 'skip'])
/** How one `gridx doctor` check came out. */
export type CheckStatus = z.infer<typeof CheckStatus>

/** One line of `gridx doctor`, as `--json` prints it. */
export const CheckResult = z.object({
  check: z.string(),
  status: CheckStatus,
  detail: z.string(),
  /** One line on what to do; null when there is nothing to do. */
  fix: z.string().nullable(),
})
/** One line of `gridx doctor`, as `--json` prints it. */
export type CheckResult = z.infer<typeof CheckResult>

/** A check that passed. */
export const ok = (check: string, detail: string, fix: string | null = null): CheckResult => ({
  check,
  status: 'ok',
  detail,
  fix,
})

/** A check that failed, with the one-line fix. */
export const fail = (check: string, detail: string, fix: string): CheckResult => ({
  check,
  status: 'fail',
  detail,
  fix,
})

/** A check that passed with something worth knowing. */
export const warn = (check: string, detail: string, fix: string | null = null): CheckResult => ({
  check,
  status: 'warn',
  detail,
  fix,
})

/** A check not run, and why. */
export const skip = (check: string, why: string): CheckResult => ({
  check,
  status: 'skip',
  detail: why,
  fix: null,
})
