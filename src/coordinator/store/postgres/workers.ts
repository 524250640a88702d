import { eq } from 'drizzle-orm'
import * as schema from '../../../db/postgres/schema'
import type { WorkerRow } from '../../../db/sqlite/schema'
import { workerRefusal } from '../account-rules'
import type { WorkersRepo } from '../types'
import type { Db } from './db'

const { workers } = schema

/** Workers on PostgreSQL: the first connection of an id pins its owner and key, whichever coordinator saw it. */
export function pgWorkers(db: Db): WorkersRepo {
  const get = async (id: string) => (await db.select().from(workers).where(eq(workers.id, id)))[0]
  return {
    get,
    upsert: async (id, ownerId, name, now, publicKey = null): Promise<WorkerRow> =>
      await db.transaction(async (tx) => {
        const locked = async () =>
          (await tx.select().from(workers).where(eq(workers.id, id)).for('update'))[0]
        let existing = await locked()
        if (!existing) {
          const row = { id, ownerId, name, publicKey, firstSeenAt: now, lastSeenAt: now }
          const [made] = await tx.insert(workers).values(row).onConflictDoNothing().returning()
          if (made) return made
          // Another coordinator recorded it first: it is an existing worker now.
          existing = await locked()
        }
        const refused = workerRefusal(existing, id, ownerId, publicKey)
        if (refused) throw refused
        const key = existing!.publicKey ?? publicKey
        await tx.update(workers).set({ name, lastSeenAt: now, publicKey: key }).where(eq(workers.id, id))
        return { ...existing!, name, lastSeenAt: now, publicKey: key }
      }),
  }
}
