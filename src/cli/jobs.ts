import { join } from 'node:path'
import { formatBytes, formatDuration } from '../protocol/units'
import { escapeTerminal } from '../protocol/terminal'
import { note, out, outPainted } from './options'
import { paintState } from './style'
import { endingLine, exitCodeOf, labelsText, safe, streamOutput, summary } from './render'
import { loggedIn } from './session'
import { download } from './submit'
import { eachJob, idsOf, jobsQuery, type ListFlags } from './job-select'
import { GridError } from '../errors'
import type { ArrayView, JobView } from '../protocol/api'
import { isArrayId } from '../protocol/ids'
import { arrayDownload, arrayStatus, countsLine, foldArrays, memberId } from './arrays'

/** The flags yargs parses for this command. */
export type Flags = ListFlags & {
  ids?: string[]
  receipt?: boolean
  coordinator?: string
  httpPort?: number
  wsPort?: number
  json?: boolean
  id?: string
  limit?: number
  follow?: boolean
  output?: string
  /** `gridx jobs --expand`: list an array's members, not one row per array. */
  expand?: boolean
  /** `gridx logs ARRAY --index N`. */
  index?: number
}

function pad(cells: string[][]): string[] {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  return cells.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  )
}

/** `gridx jobs`: the caller's newest live jobs (all with --all; everyone's with --everyone), filtered by state, name and labels. */
export async function jobs(flags: Flags): Promise<number> {
  const query = jobsQuery(flags)
  const { api } = loggedIn(flags)
  const all = await api.jobs(query)
  if (flags.json) return (out(JSON.stringify(all)), 0)
  if (all.length === 0) {
    const filtered = flags.state !== undefined || flags.name !== undefined || (flags.label ?? []).length > 0
    if (filtered) return (note('no jobs match'), 0)
    if (!flags.all) return (note("no live jobs ('gridx jobs --all' lists finished ones too)"), 0)
    return (note("no jobs yet: submit one with 'gridx submit job.py'"), 0)
  }
  // Another's array cannot be asked for (arrays are their owner's), so --everyone lists members.
  const folded = foldArrays(all, (flags.expand ?? false) || (flags.everyone ?? false))
  // An array is one row: its counts over all its members (one request per array listed).
  const arrays = new Map<string, ArrayView>()
  for (const r of folded)
    if ('array' in r && typeof r.array === 'string') arrays.set(r.array, await api.array(r.array))
  const list = folded.map((r): JobView => {
    if (!('members' in r)) return r
    const a = arrays.get(r.array)!
    const head = r.members[0]!
    return {
      ...head,
      id: r.array,
      state: head.state,
      worker: `${a.size} jobs`,
      exitCode: null,
      waiting: countsLine(a.counts),
    }
  })
  const withLabels = list.some((j) => Object.keys(j.labels).length > 0)
  const owners = flags.everyone ?? false
  const rows = list.map((j) => [
    j.id,
    j.state,
    ...(owners ? [safe(j.owner)] : []),
    j.exitCode === null ? '-' : String(j.exitCode),
    safe(j.name ?? '-'),
    ...(withLabels ? [safe(labelsText(j.labels) || '-')] : []),
    safe(j.worker ?? '-'),
    safe(j.scriptName ?? j.command.join(' ')),
    j.createdAt,
    ...(arrays.has(j.id) ? [j.waiting ?? ''] : []),
  ])
  const head = [
    'ID',
    'STATE',
    ...(owners ? ['OWNER'] : []),
    'EXIT',
    'NAME',
    ...(withLabels ? ['LABELS'] : []),
    'WORKER',
    'RUN',
    'CREATED',
  ]
  const lines = pad([head, ...rows])
  out(lines[0]!)
  // The state column starts after the widest id: painted after escaping, so the colour survives.
  const at = Math.max(2, ...list.map((j) => j.id.length)) + 2
  list.forEach((j, i) => {
    const line = escapeTerminal(lines[i + 1]!)
    outPainted(line.slice(0, at) + paintState(j.state) + line.slice(at + j.state.length))
  })
  return 0
}

/** `gridx status ID [ID...]`: each job in turn (ids may be unique prefixes). */
export async function status(flags: Flags): Promise<number> {
  const { api } = loggedIn(flags)
  const ids = idsOf(flags)
  if (flags.receipt) {
    if (ids.length > 1) throw new GridError('usage', '--receipt takes one job id')
    out(JSON.stringify(await api.receipt(ids[0]!), null, 2))
    return 0
  }
  return await eachJob(ids, flags, async (id, first) => {
    if (!first && !flags.json) out('')
    // An array's id: its summary and one line per member (`gridx status ARRAY`).
    if (isArrayId(id)) {
      if (flags.json) return await api.array(id)
      await arrayStatus({ ...flags, id, json: false })
      return undefined
    }
    const [job, attempts] = await Promise.all([api.job(id), api.attempts(id)])
    if (flags.json) return { ...job, attempts }
    const [head, ...rest] = summary(job).split('\n')
    outPainted(escapeTerminal(head!).replace(`: ${job.state}`, `: ${paintState(job.state)}`))
    for (const line of rest) out(line)
    if (job.array) out(`  array    ${job.array.id} index ${job.array.index}`)
    if (job.after.length > 0) {
      const deps = job.after.map((d) => `${d.id} (${d.state})`).join(', ')
      out(`  after    ${deps}${job.afterAny ? ', any ending' : ''}`)
    }
    if (job.waiting) out(`  waiting  ${safe(job.waiting)}`)
    for (const a of attempts) {
      const how = a.outcome ? `${a.outcome}${a.reason ? `: ${a.reason}` : ''}` : 'in progress'
      out(`  try ${a.attempt}    on ${safe(a.worker)}, ${safe(how)}${a.signed ? ' (signed receipt)' : ''}`)
    }
    return job
  })
}

/** `gridx cancel ID [ID...]`. */
export async function cancel(flags: Flags): Promise<number> {
  const { api } = loggedIn(flags)
  return await eachJob(idsOf(flags), flags, async (id) => {
    // An array's id cancels its members that have not ended (`gridx cancel ARRAY`).
    if (isArrayId(id)) {
      const a = await api.cancelArray(id)
      if (!flags.json) note(`array ${a.id}: ${countsLine(a.counts)}`)
      return a
    }
    const job = await api.cancel(id)
    if (!flags.json)
      note(
        job.state === 'cancelled'
          ? `job ${job.id} cancelled`
          : `job ${job.id} had already ended: ${job.state}`,
      )
    return job
  })
}

/** `gridx logs ID [-f]`: the job's output; with -f, until it ends, then its exit code. */
export async function logs(flags: Flags): Promise<number> {
  const s = loggedIn(flags)
  const id = isArrayId(flags.id!) ? await memberId(flags) : flags.id!
  const ended = await streamOutput(s.api, id, {
    follow: flags.follow ?? false,
    quiet: flags.json ?? false,
    json: flags.json ?? false,
  })
  if (!ended || !flags.follow) return 0
  const line = flags.json ? undefined : endingLine(ended)
  if (line) note(`gridx: ${line}`)
  return exitCodeOf(ended)
}

/** `gridx download ID`: the files the job left under /out, into ./gridx-out/ID (or --output). */
export async function downloadCommand(flags: Flags): Promise<number> {
  if (isArrayId(flags.id!)) return await arrayDownload(flags)
  const { api } = loggedIn(flags)
  // A prefix names the directory by the whole id, as `gridx submit` does.
  const id = flags.id!.length < 12 ? (await api.job(flags.id!)).id : flags.id!
  const saved = await download(api, id, flags.output ?? join('gridx-out', id), flags.json)
  if (flags.json) out(JSON.stringify({ id, ...saved }))
  return 0
}

/** `gridx workers`: connected workers. */
export async function workers(flags: Flags): Promise<number> {
  const list = await loggedIn(flags).api.workers()
  if (flags.json) return (out(JSON.stringify(list)), 0)
  if (list.length === 0) return (note("no workers connected: start one with 'gridx work'"), 0)
  const rows = list.map((w) => [
    safe(w.name),
    safe(w.owner),
    `${w.busy}/${w.slots}`,
    String(w.cpus),
    formatBytes(w.memoryBytes),
    w.maxTimeoutMs === null ? '-' : formatDuration(w.maxTimeoutMs),
    safe(w.images.join(',')),
    w.packages ? 'yes' : 'no',
    safe(w.docker),
    w.connectedAt,
  ])
  const head = [
    'NAME',
    'OWNER',
    'BUSY',
    'CPUS',
    'MEMORY',
    'MAX TIME',
    'IMAGES',
    'PACKAGES',
    'DOCKER',
    'CONNECTED',
  ]
  for (const line of pad([head, ...rows])) out(line)
  return 0
}
