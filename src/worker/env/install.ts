import { escapeTerminal } from '../../protocol/text'
import { formatBytes, formatDuration } from '../../protocol/units'
import { classifyFailure, installCommand, type ProbeFacts, REQUIREMENTS_FILE, SIZE_MARKER } from './installer'
import { ENV_MOUNT, type EnvRuntime, TOOL_INPUT_DIR } from './runtime'

/** Memory of an install container (pip resolving and unpacking wheels; /tmp counts within it). */
export const INSTALL_MEMORY_BYTES = 1024 ** 3
/** Size of its /tmp, where pip unpacks downloads before moving them into the environment. */
const INSTALL_TMP_BYTES = 768 * 1024 ** 2
/** Longest an install may take. */
export const INSTALL_TIMEOUT_MS = 10 * 60_000
/** Most installer lines passed on to the job's stderr, and the longest one. */
const MAX_PROGRESS_LINES = 200
const MAX_LINE_CHARS = 400
/** Installer lines quoted in a failure's reason. */
const REASON_LINES = 12

/** One install: what goes in, and where the installer's lines go. */
export interface InstallRequest {
  runtime: EnvRuntime
  image: string
  facts: ProbeFacts
  requirements: readonly string[]
  index: string
  allowSource: boolean
  network: string
  volume: string
  cpus: number
  labels: Record<string, string>
  containerName: string
  /** A line for the job's stderr (the submitter sees it live). */
  say: (line: string) => void
  timeoutMs?: number
  /** Aborting kills the install container at once (its job was cancelled, or the worker stops). */
  signal?: AbortSignal | undefined
}

/** How an install ended: the environment's bytes, or why not and whether another worker may do better. */
export type InstallResult = { ok: true; bytes: number } | { ok: false; error: string; retryable: boolean }

/** Splits a byte stream into lines, calling `line` for each complete one (and the rest at `end`). */
function lines(line: (text: string) => void): { push: (data: Buffer) => void; end: () => void } {
  let pending = ''
  return {
    push(data) {
      pending += data.toString('utf8')
      let nl: number
      while ((nl = pending.indexOf('\n')) >= 0) {
        line(pending.slice(0, nl).replace(/\r$/, ''))
        pending = pending.slice(nl + 1)
      }
      // A line without an end (a progress bar) is cut rather than kept growing.
      if (pending.length > 8 * MAX_LINE_CHARS) {
        line(pending)
        pending = ''
      }
    },
    end() {
      if (pending) line(pending)
      pending = ''
    },
  }
}

/** Strips colours and cursor moves, then makes what is left safe for a terminal. */
function clean(text: string): string {
  const plain = text.replace(/\u001b\[[0-9;?]*[ -/]*[@-~]/g, '').replace(/\u001b\][^\u0007]*\u0007/g, '')
  const safe = escapeTerminal(plain)
  return safe.length > MAX_LINE_CHARS ? `${safe.slice(0, MAX_LINE_CHARS)}…` : safe
}

/**
 * Installs `requirements` into the (new, empty) volume in a container of its own: the job's image,
 * the job's user, the owner's install network, the requirement list only.
 */
export async function install(r: InstallRequest): Promise<InstallResult> {
  const command = installCommand(r.facts, { index: r.index, allowSource: r.allowSource })
  if (!command) {
    return {
      ok: false,
      retryable: false,
      error: `the image ${r.image} has neither uv nor pip, so packages cannot be installed into it: use an image with pip (such as python:3.12-slim), or one that already has the packages and 'gridx submit --no-deps'`,
    }
  }
  let shown = 0
  let bytes: number | undefined
  const tail: string[] = []
  // What the failure is classified by: more than is quoted (pip's retry warnings come early).
  const seen: string[] = []
  const show = (text: string) => {
    if (shown < MAX_PROGRESS_LINES) r.say(text)
    else if (shown === MAX_PROGRESS_LINES) r.say('... (more installer output not shown)')
    shown++
  }
  const keep = (text: string) => {
    if (!text.trim()) return
    tail.push(text)
    seen.push(text)
    if (tail.length > REASON_LINES) tail.shift()
    if (seen.length > MAX_PROGRESS_LINES) seen.shift()
  }
  const out = lines((raw) => {
    if (raw.startsWith(SIZE_MARKER)) {
      bytes = Number.parseInt(raw.slice(SIZE_MARKER.length), 10) || 0
      return
    }
    const text = clean(raw)
    keep(text)
    if (text.trim()) show(text)
  })
  const err = lines((raw) => {
    const text = clean(raw)
    keep(text)
    if (text.trim()) show(text)
  })
  const timeoutMs = r.timeoutMs ?? INSTALL_TIMEOUT_MS
  const requirements = Buffer.from(`${r.requirements.join('\n')}\n`)
  const exit = await r.runtime.runTool(
    {
      name: r.containerName,
      image: r.image,
      cmd: command.cmd,
      env: [
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        'HOME=/tmp',
        'LANG=C.UTF-8',
        'PYTHONUNBUFFERED=1',
        'PIP_NO_COLOR=1',
        'NO_COLOR=1',
        'UV_CACHE_DIR=/tmp/uv-cache',
      ],
      files: [
        {
          path: REQUIREMENTS_FILE.slice(TOOL_INPUT_DIR.length + 1),
          type: 'file',
          data: requirements,
          mode: 0o644,
        },
      ],
      volume: { name: r.volume, target: ENV_MOUNT, readOnly: false, writableDirs: ['site'] },
      network: r.network,
      cpus: r.cpus,
      memoryBytes: INSTALL_MEMORY_BYTES,
      tmpBytes: INSTALL_TMP_BYTES,
      timeoutMs,
      labels: r.labels,
      signal: r.signal,
    },
    (stream, data) => (stream === 'stdout' ? out : err).push(data),
  )
  out.end()
  err.end()
  const reason = tail.length ? `:\n${tail.join('\n')}` : ''
  // Killed on purpose: not the installer's failure, nor the requirements'.
  if (r.signal?.aborted)
    return { ok: false, retryable: true, error: 'the install was stopped before it finished' }
  if (exit.startError !== undefined)
    return {
      ok: false,
      retryable: true,
      error: `could not start the installer (${command.tool}): ${exit.startError}`,
    }
  if (exit.timedOut)
    return {
      ok: false,
      retryable: true,
      error: `installing the packages took longer than ${formatDuration(timeoutMs)} and was stopped${reason}`,
    }
  if (exit.oomKilled)
    return {
      ok: false,
      retryable: true,
      error: `the installer ran out of its ${formatBytes(INSTALL_MEMORY_BYTES)} of memory${reason}`,
    }
  if (exit.exitCode !== 0) {
    const c = classifyFailure(seen.join('\n'))
    const what = c.retryable ? 'try again later or on another worker' : 'change the requirements'
    return {
      ok: false,
      retryable: c.retryable,
      error: `could not install the job's packages (${c.why}; ${what})${reason}`,
    }
  }
  return { ok: true, bytes: bytes ?? 0 }
}
