import { readFileSync } from 'node:fs'
import { GridError } from '../errors'
import {
  envNameProblem,
  envProblem,
  jobNameProblem,
  labelKeyProblem,
  labelsProblem,
  splitPair,
} from '../protocol/job-meta'

/** The flags of `gridx submit` for a job's environment, name and labels. */
export interface MetaFlags {
  env?: string[]
  envFile?: string
  name?: string
  label?: string[]
}

/** What those flags add to a submission (only what was given). */
export interface JobMeta {
  env?: Record<string, string>
  name?: string
  labels?: Record<string, string>
}

const badEnv = (message: string) => new GridError('bad_env', message)

/**
 * The variables of an env file: `KEY=VALUE` lines; blank lines and lines starting with `#` are
 * skipped; `export KEY=VALUE` is accepted (so a shell can source the same file); a value in
 * matching single or double quotes loses them (nothing inside is expanded). `where` names the
 * file in errors, which give the line number.
 */
export function parseEnvFile(text: string, where: string): Record<string, string> {
  const env: Record<string, string> = {}
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/)
  lines.forEach((raw, i) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    const at = `${where}, line ${i + 1}`
    const pair = splitPair(line.replace(/^export\s+/, ''))
    if (!pair) throw badEnv(`${at}: expected KEY=VALUE, got '${line.slice(0, 60)}'`)
    const key = pair.key.trim()
    const why = envNameProblem(key)
    if (why) throw badEnv(`${at}: ${why}`)
    let value = pair.value.trim()
    const q = value[0]
    if ((q === '"' || q === "'") && value.length >= 2 && value.endsWith(q)) value = value.slice(1, -1)
    env[key] = value
  })
  return env
}

/**
 * The job's environment, name and labels from `--env-file`, `-e KEY=VALUE` (later ones win, the
 * file's first), `--name` and `--label key=value`, checked as the coordinator will check them.
 */
export function jobMeta(flags: MetaFlags): JobMeta {
  const meta: JobMeta = {}
  const env: Record<string, string> = {}
  if (flags.envFile !== undefined) {
    let text: string
    try {
      text = readFileSync(flags.envFile, 'utf8')
    } catch (err) {
      throw new GridError(
        'bad_env_file',
        `cannot read --env-file '${flags.envFile}': ${(err as Error).message}`,
      )
    }
    Object.assign(env, parseEnvFile(text, flags.envFile))
  }
  for (const text of flags.env ?? []) {
    const pair = splitPair(text)
    if (!pair) throw badEnv(`-e takes KEY=VALUE (got '${text.slice(0, 60)}')`)
    const why = envNameProblem(pair.key)
    if (why) throw badEnv(`-e ${pair.key}: ${why}`)
    env[pair.key] = pair.value
  }
  if (Object.keys(env).length > 0) {
    const why = envProblem(env)
    if (why) throw badEnv(why)
    meta.env = env
  }
  if (flags.name !== undefined) {
    const why = jobNameProblem(flags.name)
    if (why) throw new GridError('bad_job_name', `--name must be one line of visible text: ${why}`)
    meta.name = flags.name
  }
  if (flags.label !== undefined && flags.label.length > 0) {
    const labels: Record<string, string> = {}
    for (const text of flags.label) {
      const pair = splitPair(text)
      if (!pair) throw new GridError('bad_label', `--label takes key=value (got '${text.slice(0, 60)}')`)
      const why = labelKeyProblem(pair.key)
      if (why) throw new GridError('bad_label', `--label: ${why}`)
      labels[pair.key] = pair.value
    }
    const why = labelsProblem(labels)
    if (why) throw new GridError('bad_label', `--label: ${why}`)
    meta.labels = labels
  }
  return meta
}
