import { expect, test } from 'bun:test'
import { JobLog, Logger } from '../../src/coordinator/log'
import { MAX_WAITING_LINES } from '../../src/coordinator/log/job-log'
import type { Transition } from '../../src/coordinator/observe'

/** A JobLog over fake name sources that count their reads; `lines()` parses what it wrote. */
function jobLog() {
  const chunks: string[] = []
  const logger = new Logger({ format: 'json', target: (c) => void chunks.push(c) })
  const reads = { users: 0, owners: 0 }
  const log = new JobLog(logger, {
    workerName: (id) => (id === 'w1' ? 'box-1' : id),
    userName: (id) => Promise.resolve((reads.users++, id === 'u1' ? 'alice' : undefined)),
    jobOwner: (id) => Promise.resolve((reads.owners++, id.startsWith('old') ? 'u1' : undefined)),
  })
  const lines = () => {
    logger.flush()
    return chunks
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
  }
  return { log, lines, reads }
}

const tr = (
  jobId: string,
  from: Transition['from'],
  to: Transition['to'],
  ownerId: string | null,
): Transition => ({
  jobId,
  attempt: 1,
  ownerId,
  workerId: to === 'queued' && from === null ? null : 'w1',
  from,
  to,
  reason: null,
  at: 1_000,
})

test("a job's owner is read once, then known from its submission for every later line: no read per transition", async () => {
  const { log, lines, reads } = jobLog()
  for (let i = 0; i < 100; i++) {
    log.transition(tr(`j${i}`, null, 'queued', 'u1'))
    log.transition(tr(`j${i}`, 'queued', 'assigned', 'u1'))
    log.transition(tr(`j${i}`, 'assigned', 'running', null))
    log.transition(tr(`j${i}`, 'running', 'succeeded', null))
  }
  await Bun.sleep(10)
  expect(reads).toEqual({ users: 1, owners: 0 })
  const all = lines()
  expect(all).toHaveLength(400)
  expect(all.every((l) => l['user'] === 'alice')).toBe(true)
  expect(all.filter((l) => l['worker'] === 'box-1')).toHaveLength(300)
  expect(all.slice(0, 4).map((l) => [l['job'], l['to']])).toEqual([
    ['j0', 'queued'],
    ['j0', 'assigned'],
    ['j0', 'running'],
    ['j0', 'succeeded'],
  ])
})

test('a job queued before a restart: its owner is read once, and the lines after the read keep their order', async () => {
  const { log, lines, reads } = jobLog()
  log.transition(tr('old-1', 'assigned', 'running', null))
  log.transition(tr('new-1', null, 'queued', 'u1'))
  log.transition(tr('old-1', 'running', 'failed', null))
  await Bun.sleep(10)
  expect(lines().map((l) => [l['job'], l['to'], l['user']])).toEqual([
    ['old-1', 'running', 'alice'],
    ['new-1', 'queued', 'alice'],
    ['old-1', 'failed', 'alice'],
  ])
  expect(reads.owners).toBe(1)
  expect(reads.users).toBe(1)
})

test('an owner that cannot be found leaves the user out, not the line', async () => {
  const { log, lines } = jobLog()
  log.transition(tr('gone', 'running', 'succeeded', null))
  await Bun.sleep(10)
  expect(lines()).toMatchObject([{ job: 'gone', to: 'succeeded', worker: 'box-1' }])
  expect(lines()[0]!['user']).toBeUndefined()
})

test('while a name read hangs, at most MAX_WAITING_LINES lines wait; later ones are written at once, without the name', () => {
  const chunks: string[] = []
  const logger = new Logger({ format: 'json', target: (c) => void chunks.push(c) })
  // A database that never answers.
  const log = new JobLog(logger, {
    workerName: (id) => id,
    userName: () => new Promise<string | undefined>(() => undefined),
    jobOwner: () => new Promise<string | undefined>(() => undefined),
  })
  for (let i = 0; i < MAX_WAITING_LINES + 25; i++) log.transition(tr(`j${i}`, null, 'queued', 'u1'))
  logger.flush()
  const written = chunks
    .join('')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
  expect(written).toHaveLength(25)
  expect(written[0]?.['job']).toBe(`j${MAX_WAITING_LINES}`)
  expect(written.every((l) => l['user'] === undefined)).toBe(true)
})
