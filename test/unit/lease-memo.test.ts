import { expect, test } from 'bun:test'
import { LeaseMemo } from '../../src/coordinator/lease-memo'
import type { JobRow } from '../../src/coordinator/store'
import { NEW_JOB_DEFAULTS } from '../../src/coordinator/store/job-rules'

const row = (id: string, attempt = 1, workerId: string | null = 'w-a'): JobRow => ({
  ...NEW_JOB_DEFAULTS,
  id,
  ownerId: 'u-alice',
  image: 'python:3.12-slim',
  command: ['python3'],
  scriptName: null,
  script: null,
  args: [],
  timeoutMs: 60_000,
  cpus: 2,
  memoryBytes: 1 << 29,
  maxAttempts: 3,
  maxCost: 0,
  createdAt: 1,
  state: 'assigned',
  attempt,
  workerId,
})

test('only the attempt and holder it knows are answered, once; a start and a dependent are kept', () => {
  const memo = new LeaseMemo()
  memo.assigned(row('j1', 2))
  expect(memo.take({ jobId: 'j1', attempt: 1 }, 'w-a')).toBeUndefined()
  expect(memo.take({ jobId: 'j1', attempt: 2 }, 'w-b')).toBeUndefined()
  memo.started({ jobId: 'j1', attempt: 1 }, 99) // another attempt's start: ignored
  memo.started({ jobId: 'j1', attempt: 2 }, 10)
  memo.waitedFor(['j1', 'nope'])
  expect(memo.take({ jobId: 'j1', attempt: 2 }, 'w-a')).toEqual({
    id: 'j1',
    ownerId: 'u-alice',
    state: 'running',
    attempt: 2,
    workerId: 'w-a',
    startedAt: 10,
    cpus: 2,
    timeoutMs: 60_000,
    hasDependents: true,
  })
  expect(memo.take({ jobId: 'j1', attempt: 2 }, 'w-a')).toBeUndefined()
  memo.assigned(row('j2'))
  memo.drop('j2')
  expect(memo.take({ jobId: 'j2', attempt: 1 }, 'w-a')).toBeUndefined()
})

test('it holds 100,000 attempts at most, forgetting the oldest', () => {
  const memo = new LeaseMemo()
  for (let i = 0; i <= 100_000; i++) memo.assigned(row(`j${i}`))
  expect(memo.take({ jobId: 'j0', attempt: 1 }, 'w-a')).toBeUndefined()
  expect(memo.take({ jobId: 'j1', attempt: 1 }, 'w-a')).toBeDefined()
  expect(memo.take({ jobId: 'j100000', attempt: 1 }, 'w-a')).toBeDefined()
})
