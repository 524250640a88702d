import { escapeTerminal } from '../protocol/text'

/**
 * The words of a failed package install (a job's `install_failed` result). The job never
 * started, so nothing is billed; what differs is whose fault it is: the package's (no such
 * package, no wheel for this Python or platform: the job fails at once, and the submitter must
 * change its requirements) or the worker's (its index or network: another worker may succeed).
 */

/** Longest installer reason kept in a job's error (the worker's text is bounded, but long). */
const REASON_CHARS = 1500

/**
 * One line: the worker's summary and, when it quoted the installer's output (`summary:\n…`), the
 * installer's last ERROR line (else its last line). The submitter saw that output live; the ending
 * quotes what to act on, without the escaped newlines a multi-line reason would show as.
 */
function reasonOf(error: string | null): string {
  const lines = (error ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
  const [head, ...tail] = lines
  if (head === undefined) return 'the installer gave no reason'
  const last = tail.findLast((l) => l.startsWith('ERROR:')) ?? tail.at(-1)
  const text = escapeTerminal(last === undefined ? head : `${head.replace(/:$/, '')}: ${last}`)
  return text.length > REASON_CHARS ? `${text.slice(0, REASON_CHARS)}...` : text
}

/** How the worker's refusals that carry their own advice begin (src/worker/env/). */
const SELF_ADVISING = [
  'the script requires Python ',
  'the image ',
  'could not read the Python version of ',
  "refused the job's requirements",
]

/** The job's error when its packages cannot be installed anywhere as written. */
export function packageFault(workerName: string, error: string | null): string {
  // The worker's refusals before any install (requires-python, an image without Python or pip, a
  // refused requirement) say what to change themselves; this advice fits the installer's failures.
  const advice = !SELF_ADVISING.some((start) => error?.startsWith(start))
    ? " Check each requirement's name and version (it must exist on the package index as a binary wheel for the image's Python and platform), or pin another version, or submit with --no-deps and an image that already has them"
    : ''
  return `its Python packages could not be installed on worker ${workerName}: ${reasonOf(error)}. Nothing was billed.${advice}`
}

const WORKER_FAULT_END = '); not billed, and not offered to that worker again'

/** Why a job goes back to the queue after an install failure of the worker's own (index, network). */
export function workerFault(workerName: string, error: string | null): string {
  return `its Python packages could not be installed on worker ${workerName} (${reasonOf(error)}${WORKER_FAULT_END}`
}

/** The installer's reason inside a `workerFault` error (for `gridx status` while the job waits). */
export function workerFaultReason(jobError: string | null): string | null {
  if (!jobError?.endsWith(WORKER_FAULT_END)) return jobError
  const start = jobError.indexOf(' (')
  return start < 0 ? jobError : jobError.slice(start + 2, -WORKER_FAULT_END.length)
}

/** The job's error when its last attempt's install failed for a reason of the worker's. */
export function attemptsExhausted(workerName: string, error: string | null, attempts: number): string {
  return `its Python packages could not be installed on the workers that tried (${attempts} attempts; the last, on worker ${workerName}: ${reasonOf(error)}). Nothing was billed. Those workers could not reach their package index: submit it again later, or ask their owners to check 'gridx work --package-index' and '--install-network'`
}
