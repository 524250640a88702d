// What a job carries besides its code: environment variables, a name and labels. The checks need
// no zod, so the CLI runs them before anything is sent; the coordinator's schema (api.ts) and the
// worker (which believes no job) run the same ones again.

import { lineProblem } from './terminal'

/** Bounds on a job's environment, name and labels, the same for the client, the coordinator and the worker. */
export const META_LIMITS = {
  envVars: 128,
  envNameChars: 128,
  envValueBytes: 32 * 1024,
  /** Names and values together (each counted as `NAME=value`). */
  envTotalBytes: 32 * 1024,
  nameChars: 128,
  labels: 32,
  labelKeyChars: 64,
  labelValueChars: 128,
} as const

/** What an environment variable may be called: POSIX shell names. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * Variables the sandbox sets itself and a job may not replace: the job's PATH and HOME (the stage
 * program finds python3 through PATH; HOME is the working directory) and PYTHONPATH (how a job
 * finds its installed packages). `GRIDX_*` is reserved as a whole (see `envNameProblem`).
 */
export const SANDBOX_ENV = ['PATH', 'HOME', 'PYTHONPATH'] as const

/** Why `name` cannot be a job's environment variable, or undefined when it can. */
export function envNameProblem(name: string): string | undefined {
  if (name.length > META_LIMITS.envNameChars)
    return `environment variable names are at most ${META_LIMITS.envNameChars} characters`
  if (!ENV_NAME.test(name))
    return `'${name}' is not a valid environment variable name: use letters, digits and _, not starting with a digit`
  if (name.toUpperCase().startsWith('GRIDX_'))
    return `'${name}' is reserved: GRIDX_* variables are set by gridx itself (pick another name)`
  if ((SANDBOX_ENV as readonly string[]).includes(name))
    return `'${name}' is set by the worker's sandbox and cannot be replaced (pick another name)`
  return undefined
}

/** Why `env` cannot be a job's environment (count, names, sizes), or undefined when it can. */
export function envProblem(env: Readonly<Record<string, string>>): string | undefined {
  const entries = Object.entries(env)
  if (entries.length > META_LIMITS.envVars)
    return `a job takes at most ${META_LIMITS.envVars} environment variables (${entries.length} given)`
  let total = 0
  for (const [name, value] of entries) {
    const bad = envNameProblem(name)
    if (bad) return bad
    if (value.includes('\0')) return `the value of ${name} may not contain a NUL character`
    const bytes = Buffer.byteLength(value)
    if (bytes > META_LIMITS.envValueBytes)
      return `the value of ${name} is ${bytes} bytes; a value is at most ${META_LIMITS.envValueBytes} bytes`
    total += Buffer.byteLength(name) + 1 + bytes
  }
  if (total > META_LIMITS.envTotalBytes)
    return `the job's environment is ${total} bytes; at most ${META_LIMITS.envTotalBytes} bytes in all (names and values)`
  return undefined
}

/** Why `name` cannot be a job's name, or undefined when it can: one line of visible text. */
export function jobNameProblem(name: string): string | undefined {
  return lineProblem(name, 'job names', META_LIMITS.nameChars)
}

/** What a label key may be: a letter or digit, then letters, digits and `_ . / -`. */
const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9_./-]*$/

/** Why `key` cannot be a label key, or undefined when it can. */
export function labelKeyProblem(key: string): string | undefined {
  if (key.length === 0) return 'label keys may not be empty'
  if (key.length > META_LIMITS.labelKeyChars)
    return `label keys are at most ${META_LIMITS.labelKeyChars} characters`
  if (!LABEL_KEY.test(key))
    return `'${key}' is not a valid label key: letters, digits and _ . / -, starting with a letter or digit`
  return undefined
}

/** Why `labels` cannot be a job's labels, or undefined when they can. */
export function labelsProblem(labels: Readonly<Record<string, string>>): string | undefined {
  const entries = Object.entries(labels)
  if (entries.length > META_LIMITS.labels)
    return `a job takes at most ${META_LIMITS.labels} labels (${entries.length} given)`
  for (const [key, value] of entries) {
    const bad =
      labelKeyProblem(key) ??
      (value === '' ? undefined : lineProblem(value, 'label values', META_LIMITS.labelValueChars))
    if (bad) return bad
    if (value.length > META_LIMITS.labelValueChars)
      return `label values are at most ${META_LIMITS.labelValueChars} characters`
  }
  return undefined
}

/** `KEY=VALUE` split at its first `=`, or undefined without one (or with an empty key). */
export function splitPair(text: string): { key: string; value: string } | undefined {
  const at = text.indexOf('=')
  if (at <= 0) return undefined
  return { key: text.slice(0, at), value: text.slice(at + 1) }
}
