import { describe, expect, test } from 'bun:test'
import { QueueIndex } from '../../src/coordinator/queue-index'
import type { QueuedJob } from '../../src/coordinator/store'

/** The fields the index orders by; the rest of a row does not matter to it. */
function job(id: string, createdAt: number, priority = 0, ownerId = 'u1'): QueuedJob {
  return { id, ownerId, priority, createdAt } as QueuedJob
}

/** Ids in the order a pass reads one user's line. */
function order(index: QueueIndex): string[] {
  const [cursor] = index.cursors()
  const out: string[] = []
  for (let j = cursor?.job(); j; j = cursor!.job()) {
    out.push(j.id)
    cursor!.advance()
  }
  return out
}

describe('queue index: jobs queued here before jobs announced by other coordinators', () => {
  test('within a priority, local jobs come first, each group oldest first', () => {
    const index = new QueueIndex()
    index.add(job('r1', 1), false)
    index.add(job('l2', 2))
    index.add(job('r3', 3), false)
    index.add(job('l4', 4))
    expect(order(index)).toEqual(['l2', 'l4', 'r1', 'r3'])
  })

  test('priority still comes first: an announced job of higher priority goes before local ones', () => {
    const index = new QueueIndex()
    index.add(job('l1', 1))
    index.add(job('r2', 2, 5), false)
    index.add(job('l3', 3, 5))
    expect(order(index)).toEqual(['l3', 'r2', 'l1'])
  })

  test('another coordinator’s jobs are still taken once none of this one’s are left', () => {
    const index = new QueueIndex()
    index.add(job('r1', 1), false)
    index.add(job('l2', 2))
    index.remove('l2')
    expect(order(index)).toEqual(['r1'])
  })

  test('with every job local (one coordinator, SQLite), the order is priority then age, as before', () => {
    const index = new QueueIndex()
    for (const [id, at, p] of [
      ['c', 3, 0],
      ['a', 1, 0],
      ['d', 4, 1],
      ['b', 2, 0],
    ] as const)
      index.add(job(id, at, p))
    expect(order(index)).toEqual(['d', 'a', 'b', 'c'])
  })

  test('position counts the jobs ahead in the store’s order, whoever queued them', () => {
    const index = new QueueIndex()
    index.add(job('r1', 1), false)
    const mine = job('l2', 2)
    index.add(mine)
    expect(index.position(mine)).toEqual({ aheadOfMine: 1, queued: 2 })
  })
})
