// The values of `gridx submit`, checked and worded in the user's terms before anything is sent:
// the coordinator checks them again, but its words are about the request, not the command line.
import { GridError } from '../errors'
import { LIMITS } from '../protocol/limits'
import { formatDuration, parseDuration } from '../protocol/units'

/** The shortest --timeout the coordinator takes. */
const MIN_TIMEOUT_MS = 1000

/** `--cpus`: a number of CPUs from LIMITS.minCpus to LIMITS.maxCpus. */
export function parseCpus(raw: string | number | undefined): number {
  if (raw === undefined) return 1
  const text = String(raw).trim()
  const cpus = /^\d*\.?\d+$/.test(text) ? Number(text) : Number.NaN
  if (Number.isNaN(cpus))
    throw new GridError(
      'bad_cpus',
      `--cpus '${raw}' is not a number: give how many CPUs, such as 1, 2 or 0.5`,
    )
  if (cpus < LIMITS.minCpus)
    throw new GridError(
      'bad_cpus',
      `--cpus ${text} is too small: a job asks for at least ${LIMITS.minCpus} CPU (0.5 is half a CPU)`,
    )
  if (cpus > LIMITS.maxCpus)
    throw new GridError(
      'bad_cpus',
      `--cpus ${text} is more than a job may ask for: at most ${LIMITS.maxCpus} ('gridx workers' shows what the connected workers offer)`,
    )
  return cpus
}

/** `--priority`: a whole number from -100 to 100. */
export function parsePriority(raw: string | number | undefined): number {
  if (raw === undefined) return 0
  const text = String(raw).trim()
  const priority = /^[-+]?\d+$/.test(text) ? Number(text) : Number.NaN
  if (!Number.isInteger(priority) || priority < -100 || priority > 100)
    throw new GridError(
      'bad_priority',
      `--priority '${raw}' must be a whole number from -100 to 100 (higher runs first among your jobs)`,
    )
  return priority
}

/** `--timeout`: a duration from 1s to LIMITS.maxTimeoutMs. */
export function parseTimeout(raw: string | undefined): number {
  const ms = parseDuration(raw ?? '10m', '--timeout')
  if (ms < MIN_TIMEOUT_MS)
    throw new GridError('bad_duration', `--timeout ${raw} is too short: a job gets at least 1s`)
  if (ms > LIMITS.maxTimeoutMs)
    throw new GridError(
      'bad_duration',
      `--timeout ${raw} is too long: a job may run at most ${formatDuration(LIMITS.maxTimeoutMs)} (7d)`,
    )
  return ms
}

const DOMAIN_PART = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/
const PATH_PART = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
const TAG = /^\w[\w.-]{0,127}$/
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/

/** Why `ref` is not a Docker image reference (docker/distribution's grammar), or undefined when it is one. */
export function imageProblem(ref: string): string | undefined {
  if (ref === '') return 'it is empty'
  if (/\s/.test(ref)) return 'it contains a space'
  const at = ref.indexOf('@')
  const digest = at < 0 ? undefined : ref.slice(at + 1)
  let rest = at < 0 ? ref : ref.slice(0, at)
  if (digest !== undefined && !DIGEST.test(digest))
    return `'@${digest}' is not a digest (such as @sha256: and 64 hex digits)`
  const colon = rest.lastIndexOf(':')
  if (colon > rest.lastIndexOf('/')) {
    const tag = rest.slice(colon + 1)
    if (!TAG.test(tag))
      return `its tag '${tag}' is not one: letters, digits, _ . - (up to 128, not starting with . or -)`
    rest = rest.slice(0, colon)
  }
  if (rest.length > 255) return 'its name is longer than 255 characters'
  const parts = rest.split('/')
  const first = parts[0]!
  // As Docker decides: the first part names a registry when it has a '.' or a ':' or is localhost.
  if (parts.length > 1 && (/[.:]/.test(first) || first === 'localhost' || /[A-Z]/.test(first))) {
    const [host, port] = first.split(/:(?=[^:]*$)/)
    if (!host!.split('.').every((p) => DOMAIN_PART.test(p)) || (port !== undefined && !/^\d+$/.test(port)))
      return `'${first}' is not a registry host (such as ghcr.io or registry.lab:5000)`
    parts.shift()
  }
  for (const p of parts) {
    if (p === '') return "it has an empty part (two '/' in a row, or one at an end)"
    if (/[A-Z]/.test(p))
      return `repository names are lowercase: '${p}' has capitals (try '${p.toLowerCase()}')`
    if (!PATH_PART.test(p))
      return `'${p}' is not a repository name: lowercase letters and digits, joined by single . _ __ or -`
  }
  return undefined
}

/** `--image`: a Docker reference, such as python:3.12-slim or ghcr.io/lab/tool:1.2. */
export function checkImage(ref: string): string {
  const problem = imageProblem(ref)
  if (problem)
    throw new GridError(
      'bad_image',
      `--image '${ref}' is not a Docker image name: ${problem}. Examples: python:3.12-slim, ghcr.io/lab/tool:1.2`,
    )
  return ref
}
