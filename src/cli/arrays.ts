import { join } from 'node:path'
import type { ArrayView, JobView } from '../protocol/api'
import { escapeTerminal } from '../protocol/terminal'
import { GridError } from '../errors'
import { note, out, outPainted } from './options'
import { paintState } from './style'
import { safe } from './render'
import { loggedIn } from './session'
import { download } from './submit'

// `gridx status|cancel|logs|download ARRAY`: an array (`gridx submit --array`) as one thing.

/** The flags the array forms of the job commands take. */
export interface ArrayFlags {
  coordinator?: string | undefined
  httpPort?: number | undefined
  wsPort?: number | undefined
  json?: boolean | undefined
  id?: string | undefined
  index?: number | undefined
  output?: string | undefined
}

/** "3 running, 9 queued": an array's members by state, in the order of a job's life. */
export function countsLine(counts: Record<string, number>): string {
  const order = ['running', 'assigned', 'queued', 'succeeded', 'failed', 'cancelled']
  return order
    .filter((s) => (counts[s] ?? 0) > 0)
    .map((s) => `${counts[s]} ${s}`)
    .join(', ')
}

/** `gridx status ARRAY`: the summary and one line per member. */
export async function arrayStatus(flags: ArrayFlags): Promise<number> {
  const a = await loggedIn(flags).api.array(flags.id!)
  if (flags.json) return (out(JSON.stringify(a)), 0)
  out(
    `array ${a.id}: ${a.size} jobs${a.cap === null ? '' : `, at most ${a.cap} running at once`}: ${countsLine(a.counts)}`,
  )
  for (const m of a.members) {
    const line = `  [${m.array?.index ?? '?'}] ${m.id}  ${m.state}${m.exitCode === null ? '' : ` (exit ${m.exitCode})`}${m.error ? `: ${safe(m.error)}` : ''}`
    outPainted(escapeTerminal(line).replace(` ${m.state}`, ` ${paintState(m.state)}`))
  }
  return 0
}

/** `gridx cancel ARRAY`: cancels every member that has not ended. */
export async function arrayCancel(flags: ArrayFlags): Promise<number> {
  const a = await loggedIn(flags).api.cancelArray(flags.id!)
  if (flags.json) return (out(JSON.stringify(a)), 0)
  note(`array ${a.id}: ${countsLine(a.counts)}`)
  return 0
}

/** The member of an array at `index` (what `gridx logs ARRAY --index N` shows). */
export function memberAt(a: ArrayView, index: number | undefined): JobView {
  if (index === undefined) {
    throw new GridError(
      'usage',
      `${a.id} is an array: say which member with --index N (0 to ${a.size - 1}... see 'gridx status ${a.id}')`,
    )
  }
  const m = a.members.find((j) => j.array?.index === index)
  if (!m)
    throw new GridError(
      'usage',
      `array ${a.id} has no member with index ${index}: 'gridx status ${a.id}' lists them`,
    )
  return m
}

/** The job id `gridx logs ARRAY --index N` stands for. */
export async function memberId(flags: ArrayFlags): Promise<string> {
  return memberAt(await loggedIn(flags).api.array(flags.id!), flags.index).id
}

/** `gridx download ARRAY`: every member's /out into `gridx-out/<array>/<index>/`. */
export async function arrayDownload(flags: ArrayFlags): Promise<number> {
  const { api } = loggedIn(flags)
  const a = await api.array(flags.id!)
  const root = flags.output ?? join('gridx-out', a.id)
  const saved: { index: number; id: string; dir: string; files: number; bytes: number }[] = []
  for (const m of a.members) {
    if (m.outputs === null || m.array === null) continue
    const s = await download(api, m.id, join(root, String(m.array.index)), true)
    saved.push({ index: m.array.index, id: m.id, dir: s.dir, files: s.files, bytes: s.bytes })
  }
  if (flags.json) return (out(JSON.stringify({ array: a.id, members: saved })), 0)
  const files = saved.reduce((n, s) => n + s.files, 0)
  note(
    `gridx: saved the /out files of ${saved.length} of the ${a.size} members (${files} file(s)) under ${root}/`,
  )
  return 0
}

/** Rows of `gridx jobs`: each array's members folded into one row (its newest member's place), unless `expand`. */
export function foldArrays(
  list: readonly JobView[],
  expand: boolean,
): (JobView | { array: string; members: JobView[] })[] {
  if (expand) return [...list]
  const rows: (JobView | { array: string; members: JobView[] })[] = []
  const folded = new Map<string, { array: string; members: JobView[] }>()
  for (const j of list) {
    if (!j.array) {
      rows.push(j)
      continue
    }
    let row = folded.get(j.array.id)
    if (!row) {
      row = { array: j.array.id, members: [] }
      folded.set(j.array.id, row)
      rows.push(row)
    }
    row.members.push(j)
  }
  return rows
}
