import { eq } from 'drizzle-orm'
import * as schema from '../../../db/sqlite/schema'
import type { WorkerRow } from '../../../db/sqlite/schema'
import { workerRefusal } from '../account-rules'
import type { WorkersRepo } from '../types'
import type { Db } from './ledger'
import type { Hot } from './prepared'

const { workers } = schema

/** Workers on SQLite. */
export function sqliteWorkers(db: Db, hot: Hot): WorkersRepo {
  const get = async (id: string) => hot.workerById.get({ id })
  return {
    get,
    upsert: async (id, ownerId, name, now, publicKey = null): Promise<WorkerRow> => {
      const existing = db.select().from(workers).where(eq(workers.id, id)).get()
      const refused = workerRefusal(existing, id, ownerId, publicKey)
      if (refused) throw refused
      if (existing) {
        const key = existing.publicKey ?? publicKey
        db.update(workers).set({ name, lastSeenAt: now, publicKey: key }).where(eq(workers.id, id)).run()
        return { ...existing, name, lastSeenAt: now, publicKey: key }
      }
      const row = { id, ownerId, name, publicKey, firstSeenAt: now, lastSeenAt: now }
      db.insert(workers).values(row).run()
      return row
    },
  }
}
