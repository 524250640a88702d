import { afterAll, expect, test } from 'bun:test'
import { openPostgres } from '../../src/coordinator/store/postgres'
import type { Store } from '../../src/coordinator/store/types'
import { freshDatabase } from '../support/postgres'

// The grid's bus batches the messages of one event-loop turn into one statement: each still
// reaches every coordinator, once, in order, duplicates included.

const stores: Store[] = []
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()))
})

test('postgres bus: a burst of messages (duplicates too) reaches every coordinator whole and in order', async () => {
  const url = await freshDatabase()
  const a = await openPostgres(url)
  const b = await openPostgres(url)
  stores.push(a, b)
  const got = { a: [] as string[], b: [] as string[] }
  await a.bus.subscribe(
    (m) => got.a.push(m),
    () => {},
  )
  await b.bus.subscribe(
    (m) => got.b.push(m),
    () => {},
  )
  const sent = Array.from({ length: 300 }, (_, i) => (i % 7 === 3 ? 'same' : `m${i}`))
  await Promise.all(sent.map((m) => a.bus.publish(m)))
  await b.bus.publish('last')
  const want = [...sent, 'last']
  for (let i = 0; i < 200 && (got.a.length < want.length || got.b.length < want.length); i++) {
    await Bun.sleep(50)
  }
  expect(got.a).toEqual(want)
  expect(got.b).toEqual(want)
})
