import { storeInputs } from '../coordinator/job-files'
import { runFormInputBytes } from '../coordinator/http-limits'
import type { QuotaGrant, StorageQuota } from '../coordinator/quota'
import type { JobRow, UserRow } from '../coordinator/store'
import { firstIssue } from '../coordinator/validate'
import { GridError } from '../errors'
import { LIMITS, SubmitJob } from '../protocol/api'
import { formatBytes, parseDuration, parseMemory } from '../protocol/units'
import type { WebDeps } from './env'
import { inputPaths, packFiles } from './run-archive'

/** What the run form sent, as text (kept to fill the form again after an error). */
export interface RunFields {
  image: string
  cpus: string
  memory: string
  timeout: string
  args: string
}

/** The form's defaults: the CLI's (`gridx submit job.py`). */
export const RUN_DEFAULTS: RunFields = {
  image: 'python:3.12-slim',
  cpus: '1',
  memory: '512m',
  timeout: '10m',
  args: '',
}

const bad = (message: string, status = 400) => new GridError('bad_request', message, { status })

/** The text fields of the run form, with the defaults for those left out. */
export function runFields(form: Record<string, unknown>): RunFields {
  const text = (name: keyof RunFields) => {
    const v = form[name]
    return typeof v === 'string' ? v.trim().slice(0, 1000) : RUN_DEFAULTS[name]
  }
  return {
    image: text('image'),
    cpus: text('cpus'),
    memory: text('memory'),
    timeout: text('timeout'),
    args: text('args'),
  }
}

/** The files of one field of a multipart form (a browser sends an empty, nameless part when none was picked). */
export function filesOf(form: Record<string, unknown>, name: string): File[] {
  const v = form[name]
  const all = Array.isArray(v) ? v : v === undefined ? [] : [v]
  const files: File[] = []
  for (const f of all) {
    if (!(f instanceof Blob)) continue
    const fileName = f instanceof File && typeof f.name === 'string' ? f.name : ''
    if (fileName === '' && f.size === 0) continue
    files.push(f instanceof File && fileName ? f : new File([f], fileName))
  }
  return files
}

/**
 * Submits the run form as the API would the same job: the script and settings become a SubmitJob
 * checked by its schema, the input files an archive like the CLI's, stored as POST /api/uploads
 * stores it; then the lifecycle queues it (402 when the credits do not cover it).
 */
export async function submitRun(
  deps: WebDeps,
  quota: StorageQuota,
  user: UserRow,
  fields: RunFields,
  script: File | undefined,
  inputs: File[],
  reserved?: QuotaGrant,
): Promise<JobRow> {
  if (!script || script.size === 0) throw bad('choose the Python script to run (a .py file)')
  if (!script.name.toLowerCase().endsWith('.py'))
    throw bad(`'${script.name}' is not a Python script: choose a .py file`)
  if (script.size > LIMITS.scriptBytes)
    throw bad(
      `the script is ${formatBytes(script.size)}; scripts can be at most ${formatBytes(LIMITS.scriptBytes)}`,
      413,
    )
  const cpus = Number(fields.cpus)
  if (fields.cpus === '' || !Number.isFinite(cpus))
    throw bad(`CPUs '${fields.cpus}' is not a number: use for example 1 or 0.5`)
  const memoryBytes = parseMemory(fields.memory || RUN_DEFAULTS.memory, 'memory')
  const timeoutMs = parseDuration(fields.timeout || RUN_DEFAULTS.timeout, 'timeout')
  const candidate = {
    image: fields.image || RUN_DEFAULTS.image,
    command: [],
    script: { name: script.name, contentBase64: Buffer.from(await script.arrayBuffer()).toString('base64') },
    args: fields.args ? fields.args.split(/\s+/) : [],
    timeoutMs,
    cpus,
    memoryBytes,
    inputs: inputs.length > 0 ? { sha256: await upload(deps, quota, user, inputs, reserved) } : undefined,
  }
  const parsed = SubmitJob.safeParse(candidate)
  if (!parsed.success) throw bad(firstIssue(parsed.error, 'this job is not valid'))
  const job = await deps.lifecycle.submit(user, parsed.data)
  deps.scheduler.wake()
  return job
}

/**
 * Packs the input files as the CLI does (each by its name at the top of the job's directory) and
 * stores them, streamed into the blob store under the quota reserved before the form was read.
 */
async function upload(
  deps: WebDeps,
  quota: StorageQuota,
  user: UserRow,
  files: File[],
  reserved: QuotaGrant | undefined,
): Promise<string> {
  const max = runFormInputBytes(deps.settings)
  const total = files.reduce((n, f) => n + f.size, 0)
  if (total > max) {
    throw bad(
      `the input files come to ${formatBytes(total)}; the run form takes at most ${formatBytes(max)} (send more with gridx submit --inputs)`,
      413,
    )
  }
  const tar = packFiles(inputPaths(files))
  return (await storeInputs({ ...deps, quota }, user.id, tar, undefined, reserved)).sha256
}
