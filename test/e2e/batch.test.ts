import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Grid, gridx, PY_IMAGE, startGrid, tempDir } from './harness'

// Arrays and pipelines through the binary, with a real worker and real Docker: an array of 12
// with %3 never runs more than 3 members at once (their own clocks say so), each member sees
// its index; a three-step --after pipeline runs in order; a failing parent cancels its child,
// unbilled.

let grid: Grid
let alice: Record<string, string>
let work: string

beforeAll(async () => {
  grid = await startGrid()
  alice = await grid.user('alice')
  // Four slots: room for more than the cap, so only the cap holds the array to three.
  await grid.worker(alice, 'w-batch', ['--slots', '4'])
  work = tempDir('batch')
  writeFileSync(
    join(work, 'stamp.py'),
    [
      'import json, os, sys, time',
      'start = time.time()',
      'time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 1.5)',
      'print(json.dumps({"index": os.environ.get("GRIDX_ARRAY_INDEX"), "array": os.environ.get("GRIDX_ARRAY_ID"), "start": start, "end": time.time()}))',
      'sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)',
    ].join('\n'),
  )
})
afterAll(async () => {
  await grid.close()
})

const run = (args: string[]) => gridx(args, alice, { cwd: work, timeoutMs: 120_000 })
const submit = async (...args: string[]) => {
  const r = await run(['submit', 'stamp.py', '--image', PY_IMAGE, '--cpus', '0.25', '-d', ...args])
  expect(r.stderr).toBe('')
  expect(r.code).toBe(0)
  return r.stdout.trim()
}
interface Stamp {
  index: string | null
  array: string | null
  start: number
  end: number
}
const stampOf = async (args: string[]): Promise<Stamp> => {
  const r = await run(['logs', ...args])
  expect(r.code).toBe(0)
  return JSON.parse(r.stdout) as Stamp
}
/** Polls `gridx status ID --json` until `done` says so (generous: a loaded box starts containers slowly). */
async function statusUntil<T>(id: string, done: (s: T) => boolean, ms = 240_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const r = await run(['status', id, '--json'])
    expect(r.code).toBe(0)
    const s = JSON.parse(r.stdout) as T
    if (done(s)) return s
    if (Date.now() > deadline) throw new Error(`gridx status ${id}: not done within ${ms} ms: ${r.stdout}`)
    await Bun.sleep(500)
  }
}

/** The most intervals open at one instant. */
function mostAtOnce(stamps: readonly Stamp[]): number {
  const edges = stamps.flatMap((s): [number, number][] => [
    [s.start, 1],
    [s.end, -1],
  ])
  // An end and a start at the same instant: the end first.
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1])
  let open = 0
  let most = 0
  for (const [, d] of edges) most = Math.max(most, (open += d))
  return most
}

type ArrayStatus = { id: string; size: number; cap: number; counts: Record<string, number> }
type JobStatus = {
  id: string
  state: string
  error: string | null
  costMc: number | null
  outcome: string | null
}

describe('arrays and pipelines', () => {
  test('an array of 12 with %3: never more than 3 at once, each member prints its index', async () => {
    const array = await submit('--array', '0-11%3')
    expect(array).toMatch(/^[a-z0-9]{13}$/)
    const s = await statusUntil<ArrayStatus>(array, (a) => a.counts['succeeded'] === 12)
    expect([s.size, s.cap]).toEqual([12, 3])
    const stamps: Stamp[] = []
    for (let i = 0; i < 12; i++) stamps.push(await stampOf([array, '--index', String(i)]))
    expect(stamps.map((x) => x.index)).toEqual([...Array(12).keys()].map(String))
    expect(new Set(stamps.map((x) => x.array))).toEqual(new Set([array]))
    const most = mostAtOnce(stamps)
    console.log(`array of 12 with %3: at most ${most} members ran at once`)
    expect(most).toBeLessThanOrEqual(3)
    // The table folds the array into one row with its counts.
    const jobs = await run(['jobs', '--all'])
    expect(jobs.stdout).toContain(array)
    expect(jobs.stdout).toContain('12 succeeded')
    const expanded = await run(['jobs', '--all', '--expand', '--limit', '50'])
    expect(expanded.stdout.split('\n').filter((l) => l.includes('stamp.py'))).toHaveLength(12)
  }, 300_000)

  test('a three-step pipeline with --after runs in order', async () => {
    const one = await submit('--', '1')
    const two = await submit('--after', one, '--', '1')
    const three = await submit('--after', two, '--', '1')
    const waiting = await run(['status', three])
    expect(waiting.stdout).toMatch(new RegExp(`waits for ${two} \\(queued\\)`))
    await statusUntil<JobStatus>(three, (j) => j.state === 'succeeded')
    const [a, b, c] = [await stampOf([one]), await stampOf([two]), await stampOf([three])]
    expect(b.start).toBeGreaterThanOrEqual(a.end)
    expect(c.start).toBeGreaterThanOrEqual(b.end)
  }, 300_000)

  test('a failing parent cancels its --after child with the reason, and the child costs nothing', async () => {
    const parent = await submit('--', '1', '3')
    const child = await submit('--after', parent)
    const ended = await statusUntil<JobStatus>(child, (j) => j.state !== 'queued')
    expect(ended).toMatchObject({
      state: 'cancelled',
      outcome: 'dependency',
      error: `dependency ${parent} failed`,
      costMc: 0,
    })
    const text = await run(['status', child])
    expect(text.stdout).toContain(`dependency ${parent} failed`)
    const credits = JSON.parse((await run(['credits', '--json'])).stdout) as {
      escrowMc: number
      history: { job: string | null; kind: string; amountMc: number }[]
    }
    // Held, then all of it released: no payment, so no line in the history.
    expect(credits.history.filter((h) => h.job === child)).toEqual([])
    expect(credits.escrowMc).toBe(0)
  }, 300_000)
})
