import { writeSync } from 'node:fs'
import type { ApiClient } from '../client/api'
import { describe, GridError } from '../errors'
import type { JobView } from '../protocol/api'
import { formatCredits } from '../protocol/credits'
import { escapeTerminal } from '../protocol/terminal'
import { formatBytes, formatDuration } from '../protocol/units'
import { note } from './options'
import { clearStatus } from './status-line'

/** Text from the coordinator on one line of a terminal: every control character escaped, newlines too. */
export const safe = (text: string): string => escapeTerminal(text)

/** The exit code `gridx submit` and `gridx logs` return for a finished job. */
export function exitCodeOf(job: JobView): number {
  if (job.state === 'succeeded') return 0
  if (job.outcome === 'exited' && job.exitCode !== null) return job.exitCode
  if (job.outcome === 'timeout') return 124
  // Killed by the kernel for memory: 137 (128 + SIGKILL), as `docker run` reports it.
  if (job.outcome === 'oom') return 137
  // Stopped for writing too much: its own fault, like a failed exit.
  if (job.outcome === 'output_limit') return 1
  if (job.state === 'cancelled') return 130
  // The platform, not the job, failed (as `docker run` does); a failed package install too:
  // the job's own code never ran.
  return 125
}

/** One line saying how a job ended, or undefined when its exit code says it all. */
export function endingLine(job: JobView): string | undefined {
  switch (job.outcome) {
    case 'exited':
      return job.error ? `job ${job.id} exited with ${job.exitCode}: ${safe(job.error)}` : undefined
    case 'timeout':
      return `job ${job.id} timed out: ${job.error ? safe(job.error) : `it ran past ${formatDuration(job.timeoutMs)}`} (raise it with --timeout)`
    case 'cancelled':
      return `job ${job.id} was cancelled`
    case 'oom':
      return `job ${job.id} ran out of memory: ${job.error ? safe(job.error) : `it needed more than ${formatBytes(job.memoryBytes)}`}`
    case 'output_limit':
      return `job ${job.id} hit the output limit: ${safe(job.error ?? 'it wrote too much')}`
    case 'install_failed':
      return `job ${job.id} did not start: ${safe(job.error ?? 'its Python packages could not be installed')}`
    case null:
      return job.state === 'cancelled' ? `job ${job.id} was cancelled` : undefined
    default:
      return `job ${job.id} failed: ${safe(job.error ?? job.outcome)}`
  }
}

/** What a job used: wall time, CPU time and peak memory. */
export function usageLine(u: NonNullable<JobView['usage']>): string {
  const cpu = u.cpuMs === null ? 'not measured' : `${(u.cpuMs / 1000).toFixed(2)} s`
  const mem = u.peakMemoryBytes === null ? 'not measured' : formatBytes(u.peakMemoryBytes)
  return `wall ${(u.wallMs / 1000).toFixed(2)} s, CPU ${cpu}, peak memory ${mem}`
}

/** Why a job ended, in words: exited (code), timeout, out of memory, output limit, cancelled. */
export function reasonOf(job: JobView): string {
  switch (job.outcome) {
    case 'exited':
      return `exited with ${job.exitCode}`
    case 'oom':
      return 'out of memory'
    case 'output_limit':
      return 'output limit'
    case 'install_failed':
      return 'package install failed'
    case null:
      return job.state
    default:
      return safe(job.outcome)
  }
}

/** A job's labels as `key=value` pairs joined by commas (empty for none). */
export function labelsText(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
}

/** A short, human summary of a job. */
export function summary(job: JobView): string {
  const what = job.scriptName
    ? [job.scriptName, ...job.args].join(' ')
    : [...job.command, ...job.args].join(' ')
  const lines = [
    `job ${job.id}: ${job.state}${job.exitCode === null ? '' : ` (exit ${job.exitCode})`}`,
    `  run      ${safe(what)} in ${safe(job.image)}`,
    `  limits   ${job.cpus} CPU, ${formatBytes(job.memoryBytes)}, timeout ${formatDuration(job.timeoutMs)}`,
    `  worker   ${safe(job.worker ?? '-')} (attempt ${job.attempt})`,
    `  created  ${job.createdAt}${job.startedAt ? `, started ${job.startedAt}` : ''}${job.finishedAt ? `, finished ${job.finishedAt}` : ''}`,
  ]
  // Its name, labels and the names of its variables (issue 17), when it has them.
  if (job.name !== null) lines.push(`  name     ${safe(job.name)}`)
  const labels = labelsText(job.labels)
  if (labels) lines.push(`  labels   ${safe(labels)}`)
  if (job.envNames.length > 0) lines.push(`  env      ${safe(job.envNames.join(', '))}`)
  // The time billed is what the coordinator saw pass (at most the worker's own measure, the wall time).
  const billed = job.billedMs === null ? '' : ` for ${(job.billedMs / 1000).toFixed(2)} s billed`
  lines.push(
    `  credits  ${job.costMc === null ? `up to ${formatCredits(job.maxCostMc)} held in escrow` : `${formatCredits(job.costMc)} paid${billed} (of ${formatCredits(job.maxCostMc)} escrowed)`}`,
  )
  if (job.usage) lines.push(`  used     ${usageLine(job.usage)}; ended: ${reasonOf(job)}`)
  if (job.requirements.length > 0) {
    const python = job.requiresPython ? ` (Python ${safe(job.requiresPython)})` : ''
    lines.push(`  packages ${safe(job.requirements.join(', '))}${python}`)
  }
  if (job.inputs) lines.push(`  inputs   ${formatBytes(job.inputs.bytes)}`)
  if (job.outputs) {
    lines.push(
      `  outputs  ${job.outputs.files} file(s), ${formatBytes(job.outputs.bytes)}: 'gridx download ${job.id}'`,
    )
  }
  if (job.error) lines.push(`  note     ${safe(job.error)}`)
  return lines.join('\n')
}

/**
 * Writes all of `data` to a file descriptor. `Bun.write(Bun.stdout, …)` can send a partly written
 * prefix twice when a pipe is full (oven-sh/bun#35953: a job's output arrived 36 KB too long), so
 * this loops over plain writes, waiting while a non-blocking pipe has no room.
 */
async function writeAll(fd: number, data: Buffer): Promise<void> {
  let done = 0
  while (done < data.length) {
    try {
      done += writeSync(fd, data, done)
    } catch (err) {
      if ((err as { code?: string }).code !== 'EAGAIN') throw err
      await Bun.sleep(1)
    }
  }
}

/** How `streamOutput` writes: as the job wrote it, its stdout somewhere else, or as JSON lines. */
export interface StreamOptions {
  follow: boolean
  quiet: boolean
  signal?: AbortSignal
  /** Where the job's stdout goes (default 1): `submit --json` sends it to 2, so stdout holds only JSON. */
  stdoutFd?: 1 | 2
  /** Each event as one JSON line on stdout (`logs --json`, docs/JSON.md), instead of the bytes. */
  json?: boolean
  /** Hears each state the job enters (a queued job's status line ends when it starts). */
  onState?: (state: string) => void
}

/** One line of `gridx logs --json` (docs/JSON.md). */
function jsonLine(line: Record<string, unknown>): Promise<void> {
  return writeAll(1, Buffer.from(`${JSON.stringify(line)}\n`))
}

/**
 * Writes a job's output to this terminal's stdout and stderr as it arrives and returns the job
 * as it ended. A dropped connection is resumed without repeating output.
 */
export async function streamOutput(
  api: ApiClient,
  id: string,
  opts: StreamOptions,
): Promise<JobView | undefined> {
  let delivered = 0 // output events of the current attempt already written
  let failures = 0
  for (;;) {
    let seen = 0
    try {
      for await (const e of api.output(id, opts.follow, opts.signal)) {
        failures = 0
        if (e.type === 'output') {
          if (++seen <= delivered) continue
          delivered = seen
          const bytes = Buffer.from(e.data, 'base64')
          // A status line redrawn in place gives way to the job's own output.
          clearStatus()
          if (opts.json) await jsonLine({ type: 'output', stream: e.stream, text: bytes.toString('utf8') })
          else await writeAll(e.stream === 'stdout' ? (opts.stdoutFd ?? 1) : 2, bytes)
        } else if (e.type === 'state') {
          opts.onState?.(e.state)
          if (opts.json)
            await jsonLine({
              type: 'state',
              state: e.state,
              worker: e.worker ?? null,
              reason: e.reason ?? null,
            })
          if (e.state === 'queued') {
            seen = delivered = 0
            if (!opts.quiet)
              note(
                `gridx: job ${id} went back to the queue (${e.reason ? safe(e.reason) : 'its worker was lost'}); it will run again`,
              )
          } else if (e.state === 'running' && !opts.quiet) {
            note(`gridx: job ${id} running on ${safe(e.worker ?? 'a worker')}`)
          }
        } else {
          if (opts.json) await jsonLine({ type: 'end', job: e.job })
          return e.job
        }
      }
      if (!opts.follow) return undefined
    } catch (err) {
      if (opts.signal?.aborted) return undefined
      // Retry only a stream that may come back: one that followed a coordinator already reached
      // (a restart, a network blip). A first connection that fails names the cause at once.
      const mayPass = opts.follow && api.reached && err instanceof GridError && err.retryable
      if (!mayPass || ++failures > 30) throw err
      if (failures === 1 && !opts.quiet)
        note(`gridx: lost the connection to the coordinator (${describe(err)}); retrying`)
    }
    // The stream ended without the job's end (coordinator restarting): wait and resume.
    await Bun.sleep(Math.min(2000, 200 * 2 ** Math.min(failures, 4)))
  }
}
