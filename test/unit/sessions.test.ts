import { expect, test } from 'bun:test'
import type { UserRow } from '../../src/db/sqlite/schema'
import { Sessions } from '../../src/coordinator/store/sessions'

const bob: UserRow = {
  id: 'u-bob',
  name: 'bob',
  passwordHash: 'h',
  isAdmin: false,
  createdAt: 1,
  inviteId: null,
}

test('a kept token answers until it expires, as a copy', () => {
  const s = new Sessions()
  s.keep('t', bob, 100, s.reading())
  const got = s.get('t', 99)!
  expect(got).toEqual(bob)
  got.isAdmin = true
  expect(s.get('t', 99)!.isAdmin).toBe(false)
  expect(s.get('t', 100)).toBeUndefined()
  // Gone for good once found expired.
  expect(s.get('t', 50)).toBeUndefined()
})

test('a read begun before a drop is not kept: it may have read what was dropped', () => {
  const s = new Sessions()
  const read = s.reading()
  s.drop('other')
  s.keep('t', bob, 100, read)
  expect(s.get('t', 1)).toBeUndefined()
  s.keep('t', bob, 100, s.reading())
  expect(s.get('t', 1)).toEqual(bob)
  s.drop()
  expect(s.get('t', 1)).toBeUndefined()
})

test('an entry lives its lifetime at most, and at most 10,000 are kept', async () => {
  const s = new Sessions(30)
  s.keep('t', bob, 10 ** 12, s.reading())
  expect(s.get('t', 1)).toEqual(bob)
  await Bun.sleep(40)
  expect(s.get('t', 1)).toBeUndefined()
  const many = new Sessions()
  for (let i = 0; i <= 10_000; i++) many.keep(`t${i}`, bob, 100, many.reading())
  expect(many.get('t0', 1)).toBeUndefined()
  expect(many.get('t1', 1)).toEqual(bob)
  expect(many.get('t10000', 1)).toEqual(bob)
})
