import { existsSync, readFileSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import type { ApiClient } from '../client/api'
import { collectInputs, type InputEntry, saveOutputs } from '../client/files'
import { inputBytes } from '../client/input-stream'
import { cleanPath } from '../protocol/archive'
import { describe, GridError } from '../errors'
import { formatCredits } from '../protocol/credits'
import { DEFAULT_IMAGE } from '../protocol/images'
import type { JobView, SubmitJob } from '../protocol/api'
import { filesExceedMemory, LIMITS } from '../protocol/limits'
import { accepts, whyNoWorker } from '../protocol/placement'
import { formatBytes, formatDuration, parseMemory } from '../protocol/units'
import { depsLine, jobDeps } from './deps'
import { jobMeta } from './job-meta-flags'
import { note, out, writeDirect } from './options'
import { endingLine, exitCodeOf, safe, streamOutput } from './render'
import { loggedIn, prompt } from './session'
import { checkImage, parseCpus, parsePriority, parseTimeout } from './submit-values'
import { batchFields, submitArray } from './submit-batch'
import { uploadBody } from './upload-progress'
import { queueLine } from './queue-line'

/** The flags yargs parses for this command. */
export type Flags = {
  coordinator?: string
  httpPort?: number
  wsPort?: number
  script?: string
  image?: string
  timeout?: string
  cpus?: string | number
  memory?: string
  priority?: string | number
  detach?: boolean
  quiet?: boolean
  json?: boolean
  file?: string[]
  entry?: string
  output?: string
  download?: boolean
  requirements?: string
  deps?: boolean
  // Job environment, name and labels (issue 17).
  env?: string[]
  envFile?: string
  name?: string
  label?: string[]
  // Arrays and dependencies (issue 17)
  array?: string
  after?: string
  afterAny?: boolean
  '--'?: (string | number)[]
}

/**
 * Readies a process that runs one submit and exits: status lines go straight to the descriptors
 * (see `writeDirect`). (zod is not loaded at all unless an answer or config.json is refused.)
 */
export function oneShot(): void {
  writeDirect()
}

/** Builds the submission from the command line, validating everything before any connection. */
export function buildJob(flags: Flags): SubmitJob {
  return { ...buildOne(flags), ...batchFields(flags) }
}

function buildOne(flags: Flags): SubmitJob {
  const rest = (flags['--'] ?? []).map(String)
  const timeoutMs = parseTimeout(flags.timeout)
  const cpus = parseCpus(flags.cpus)
  const memoryBytes = parseMemory(flags.memory ?? '512m', '--memory')
  const priority = parsePriority(flags.priority)
  const image = flags.image === undefined ? DEFAULT_IMAGE : checkImage(flags.image)
  const base = { timeoutMs, cpus, memoryBytes, priority, image, ...jobMeta(flags) }
  if (!flags.script) {
    if (!flags.image || rest.length === 0) {
      throw new GridError(
        'no_job',
        "nothing to run: give a script ('gridx submit job.py') or an image and a command ('gridx submit --image IMG -- CMD ARGS')",
      )
    }
    return { ...base, command: rest, args: [] }
  }
  const path = flags.script
  if (!existsSync(path))
    throw new GridError('no_script', `script '${path}' not found (looked in ${process.cwd()})`)
  const st = statSync(path)
  if (st.isDirectory()) {
    // A project directory: everything in it is uploaded and the entry script runs from its top.
    const entry = flags.entry === undefined ? undefined : cleanPath(flags.entry)
    if (!entry) {
      throw new GridError(
        'no_entry',
        `'${path}' is a directory: say which script in it to run with --entry, e.g. 'gridx submit ${path} --entry main.py'`,
      )
    }
    if (!statSync(join(path, entry), { throwIfNoEntry: false })?.isFile()) {
      throw new GridError('no_entry', `--entry '${flags.entry}' is not a file in '${path}'`)
    }
    return { ...base, command: ['python3', '-u', entry], args: rest }
  }
  if (!st.isFile()) throw new GridError('no_script', `'${path}' is not a file`)
  if (st.size > LIMITS.scriptBytes) {
    throw new GridError(
      'script_too_big',
      `'${path}' is ${formatBytes(st.size)}; scripts can be at most ${formatBytes(LIMITS.scriptBytes)}`,
    )
  }
  return {
    ...base,
    command: [],
    script: { name: basename(path), contentBase64: readFileSync(path).toString('base64') },
    args: rest,
  }
}

/** The input files of a submission: `--file` paths, and a project directory's contents. */
export function buildInputs(flags: Flags): InputEntry[] {
  const dir = flags.script && statSync(flags.script, { throwIfNoEntry: false })?.isDirectory()
  const entries = dir ? collectInputs([flags.script!], { asRoot: true, skip: ['gridx-out'] }) : []
  const extra = collectInputs(flags.file ?? [])
  const taken = new Set(entries.map((e) => e.path))
  const script = flags.script && !dir ? basename(flags.script) : undefined
  const clash = extra.find((e) => e.type === 'file' && (taken.has(e.path) || e.path === script))
  if (clash) throw new GridError('input_clash', `two input files would both be '${clash.path}': rename one`)
  return [...entries, ...extra]
}

/** Downloads a finished job's /out files into `dir` and says where they went (unless `quiet`), returning what was saved. */
export async function download(
  api: ApiClient,
  id: string,
  dir: string,
  quiet = false,
): Promise<{ dir: string; files: number; bytes: number; skipped: { path: string; reason: string }[] }> {
  // The id names a directory here: never let an answer steer where files go.
  if (!/^[a-z0-9]{1,64}$/.test(id)) throw new GridError('bad_job_id', `'${id}' is not a job id`)
  const saved = await saveOutputs(await api.outputs(id), dir)
  for (const s of saved.skipped)
    note(`gridx: skipped '${safe(s.path)}' from the job's files: ${safe(s.reason)}`)
  if (!quiet) note(`gridx: saved ${saved.files} file(s), ${formatBytes(saved.bytes)}, to ${saved.dir}/`)
  return { dir: saved.dir, files: saved.files, bytes: saved.bytes, skipped: saved.skipped }
}

/** Says up front when no connected worker can take the job, so a wait is not a mystery. */
async function explainWait(api: ApiClient, job: JobView): Promise<void> {
  const workers = await api.workers().catch(() => undefined)
  if (!workers) return
  if (workers.length === 0) {
    note(
      "gridx: no worker is connected right now; the job starts when one connects ('gridx work' on any machine)",
    )
  } else {
    // An estimate (the archive's size): the coordinator's own check, in `waiting`, is exact.
    const needs = { ...job, filesBytes: job.inputs?.bytes ?? null, packages: job.requirements.length > 0 }
    if (!workers.some((w) => accepts(w, needs))) note(`gridx: ${safe(whyNoWorker(workers, needs))}`)
  }
}

/**
 * A grid whose database is away refuses every submission (503): said as such, with what to do,
 * so the user knows the job is not queued and need not wonder whether it runs.
 */
function notSubmitted(err: unknown): never {
  if (err instanceof GridError && err.code === 'database_unreachable') {
    throw new GridError(
      err.code,
      `the job was not submitted: ${err.message}. Submit it again once the database is back ('gridx doctor' says which coordinators are degraded)`,
      { status: err.status, retryable: true, cause: err },
    )
  }
  throw err
}

/** `gridx submit`: send a job, stream its output live, return its exit code. */
export async function submit(flags: Flags): Promise<number> {
  const job = buildJob(flags)
  // Read and checked before anything is uploaded: a bad line is named here, not by a worker.
  const deps = jobDeps({ ...flags, noDeps: flags.deps === false })
  if (deps.requirements.length > 0) job.requirements = deps.requirements
  if (deps.requiresPython !== null) job.requiresPython = deps.requiresPython
  const inputs = buildInputs(flags)
  const s = loggedIn(flags)
  const needs = depsLine(deps)
  if (needs && !flags.quiet) note(`gridx: ${safe(needs)}`)
  // Said before uploading anything (the coordinator checks again, on the archive's size).
  const filesBytes =
    inputBytes(inputs) + (job.script ? Buffer.byteLength(job.script.contentBase64, 'base64') : 0)
  const tooBig = filesExceedMemory(filesBytes, job.memoryBytes)
  if (tooBig) throw tooBig
  if (inputs.length > 0) {
    // Streamed from disk as it is packed, with a progress line on a terminal.
    const upload = uploadBody(inputs, flags.quiet)
    const uploaded = await s.api.upload(upload.body).finally(upload.done)
    job.inputs = { sha256: uploaded.sha256 }
    if (!flags.quiet) note(`gridx: uploaded ${uploaded.files} input file(s), ${formatBytes(uploaded.bytes)}`)
  }
  if (job.array !== undefined) return await submitArray(s.api, job, flags)
  const created = await s.api.submit(job).catch(notSubmitted)
  if (flags.detach) {
    out(flags.json ? JSON.stringify(created) : created.id)
    // Asked for more than the defaults: say now (on stderr) if no connected worker offers it.
    // Default requests skip the extra request, which keeps the plain detached submit fast.
    if (!flags.quiet && (flags.memory !== undefined || flags.cpus !== undefined))
      await explainWait(s.api, created)
    return 0
  }
  if (!flags.quiet) {
    note(
      `gridx: job ${created.id} queued (${created.image}, ${created.cpus} CPU, ${formatBytes(created.memoryBytes)}, timeout ${formatDuration(created.timeoutMs)}); it may cost up to ${formatCredits(created.maxCostMc)} credits`,
    )
  }
  if (!flags.quiet) await explainWait(s.api, created)
  // Ctrl-C asks before cancelling (on a terminal); a second Ctrl-C, or no terminal, detaches.
  const ctrlC = new AbortController()
  let asking = false
  const onInt = () => {
    if (asking || !process.stdin.isTTY) return ctrlC.abort()
    asking = true
    void prompt(
      `\ngridx: cancel job ${created.id}? [y/N] (Ctrl-C again to detach and leave it running) `,
      false,
    )
      .then(async (answer) => {
        if (/^y(es)?$/i.test(answer.trim())) {
          note(`gridx: cancelling job ${created.id}`)
          await s.api.cancel(created.id)
        }
      })
      .catch(() => ctrlC.abort())
      .finally(() => (asking = false))
  }
  process.on('SIGINT', onInt)
  // One line redrawn in place while the job waits: why, its place in the queue, the time waited.
  const waiting = queueLine(s.api, created.id, flags.quiet ?? false)
  try {
    const ended = await streamOutput(s.api, created.id, {
      follow: true,
      quiet: flags.quiet ?? false,
      signal: ctrlC.signal,
      onState: waiting.onState,
      // Under --json stdout holds one JSON document: the job's own stdout goes to stderr.
      stdoutFd: flags.json ? 2 : 1,
    }).finally(waiting.stop)
    if (!ended) {
      note(
        `gridx: detached; job ${created.id} keeps running. Follow it with 'gridx logs -f ${created.id}', stop it with 'gridx cancel ${created.id}'`,
      )
      return 130
    }
    if (flags.json) out(JSON.stringify(ended))
    const line = endingLine(ended)
    if (line) note(`gridx: ${line}`)
    if (ended.outputs && flags.download !== false) {
      // The job's exit code stands even when its files cannot be saved here.
      await download(s.api, ended.id, flags.output ?? join('gridx-out', ended.id)).catch((err: unknown) =>
        note(
          `gridx: could not save the job's files: ${describe(err)}; try again with 'gridx download ${ended.id}'`,
        ),
      )
    }
    if (!flags.quiet && ended.costMc !== null) {
      note(
        `gridx: job ${ended.id} cost ${formatCredits(ended.costMc)} credits (${formatCredits(ended.maxCostMc - ended.costMc)} of the escrow returned)`,
      )
    }
    return exitCodeOf(ended)
  } finally {
    waiting.stop()
    process.off('SIGINT', onInt)
  }
}
