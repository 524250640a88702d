import { LIMITS } from '../protocol/limits'
import { formatBytes } from '../protocol/units'
import type { Settings } from './settings'

/** The size a request announces (undefined when chunked or unreadable), and whether it has a body at all. */
export function declaredBody(req: Request): { declared: number | undefined; present: boolean } {
  const text = req.headers.get('content-length')
  const n = text === null ? NaN : Number(text)
  const declared = Number.isSafeInteger(n) && n >= 0 ? n : undefined
  return { declared, present: (declared ?? 0) > 0 || req.headers.has('transfer-encoding') }
}

/** Body limits by kind of route, in bytes. */
export const BODY_LIMITS = {
  /** Logins and registrations: a name and a password. */
  auth: 16 * 1024,
  /**
   * A job: the script (LIMITS.scriptBytes, 4 MiB, is 5.4 MiB in base64) plus its command and
   * arguments, of which no Linux exec takes more than 2 MiB (ARG_MAX), plus the rest of the spec.
   */
  job: 8 * 1024 * 1024,
  /** Everything else that takes JSON: grants, cancels and the like. */
  other: 64 * 1024,
} as const

/** How large a request's body may be, and what to call it in a refusal. */
export interface BodyRule {
  maxBytes: number
  /** What the body is, for messages: "a login or registration". */
  what: string
  /** The flag that raises the limit, when an operator can. */
  flag?: string
}

/**
 * The most input files the dashboard's run form takes: a browser's form is parsed in memory (see
 * src/web/run-submit.ts), so it gets less than `--max-input`; more goes with `gridx submit --inputs`.
 */
export const RUN_FORM_INPUT_BYTES = 64 * 1024 * 1024

/** The run form's input limit on this coordinator: 64 MiB, or `--max-input` when that is less. */
export function runFormInputBytes(settings: Settings): number {
  return Math.min(settings.maxInputBytes, RUN_FORM_INPUT_BYTES)
}

/** Room for tar headers on top of the file data an archive may carry. */
export function archiveCeiling(dataBytes: number, entries: number): number {
  // A long path takes a pax header of its own, about 1.5 KiB; leave 3 KiB per entry.
  return dataBytes + (entries + 2) * 3 * 1024
}

const LEASE_OUTPUTS = /^\/api\/leases\/[^/]+\/[^/]+\/outputs$/

/**
 * The body rule of a route. Only the two archive uploads get large limits; both are read only
 * after their token is checked. A path the router spells differently gets the small default.
 */
export function bodyRule(method: string, path: string, settings: Settings): BodyRule {
  if (path.startsWith('/api/auth/')) return { maxBytes: BODY_LIMITS.auth, what: 'a login or registration' }
  if (method === 'POST' && path === '/api/jobs')
    return { maxBytes: BODY_LIMITS.job, what: 'a job submission' }
  if (method === 'POST' && path === '/api/uploads') {
    return {
      maxBytes: archiveCeiling(settings.maxInputBytes, settings.maxArchiveEntries),
      what: `an input archive (${formatBytes(settings.maxInputBytes)} of files)`,
      flag: '--max-input',
    }
  }
  if (method === 'POST' && path === '/run') {
    // The dashboard's run form: a script and its input files, sent as they are (multipart).
    return {
      maxBytes: LIMITS.scriptBytes + archiveCeiling(runFormInputBytes(settings), settings.maxArchiveEntries),
      what: `the run form (a script and ${formatBytes(runFormInputBytes(settings))} of input files; send more with gridx submit --inputs)`,
    }
  }
  if (method === 'PUT' && LEASE_OUTPUTS.test(path)) {
    return {
      maxBytes: archiveCeiling(settings.maxOutputBytes, settings.maxArchiveEntries),
      what: `an /out archive (${formatBytes(settings.maxOutputBytes)} of files)`,
      flag: '--max-output',
    }
  }
  return { maxBytes: BODY_LIMITS.other, what: 'this request' }
}
