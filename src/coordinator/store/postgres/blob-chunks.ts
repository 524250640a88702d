import { eq, sql } from 'drizzle-orm'
import * as schema from '../../../db/postgres/schema'
import type { BlobChunksRepo, ChunkedBlob } from '../types'
import type { Db, Tx } from './db'

const { blobs, blobChunks } = schema

/**
 * Serialises writers and removers of one digest across every coordinator, for the rest of the
 * transaction: two uploads of the same archive write it once, and a sweep never removes an
 * archive a writer is renewing.
 */
const lockDigest = (tx: Tx, sha256: string) =>
  tx.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${`gridx-blob:${sha256}`}, 0))`)

/** Stored archives as chunks on PostgreSQL. */
export function pgBlobChunks(db: Db): BlobChunksRepo {
  return {
    write: async (blob, chunks) =>
      await db.transaction(async (tx) => {
        await lockDigest(tx, blob.sha256)
        const renewed = await tx
          .update(blobs)
          .set({ storedAt: sql`GREATEST(${blobs.storedAt}, ${blob.storedAt})` })
          .where(eq(blobs.sha256, blob.sha256))
          .returning({ sha256: blobs.sha256 })
        if (renewed.length > 0) return 'existed' as const
        let idx = 0
        for await (const data of chunks) {
          await tx.insert(blobChunks).values({
            sha256: blob.sha256,
            idx: idx++,
            data: Buffer.from(data.buffer, data.byteOffset, data.byteLength),
          })
        }
        // The row last: until it exists the archive is not stored, whatever chunks the transaction holds.
        await tx.insert(blobs).values({ ...blob, chunks: idx })
        return 'written' as const
      }),
    get: async (sha256) => {
      const rows: ChunkedBlob[] = await db.select().from(blobs).where(eq(blobs.sha256, sha256))
      return rows[0]
    },
    // Raw rows: bytea comes back as a Uint8Array the response can send as it is, with no copy.
    read: async (sha256, from, count) => {
      const rows = await db.execute(sql`
        SELECT data FROM blob_chunks WHERE sha256 = ${sha256} AND idx >= ${from} AND idx < ${from + count}
        ORDER BY idx`)
      return rows.map((r) => r.data as Uint8Array)
    },
    list: async () =>
      await db.select({ sha256: blobs.sha256, bytes: blobs.bytes, storedAt: blobs.storedAt }).from(blobs),
    remove: async (sha256, before) =>
      await db.transaction(async (tx) => {
        await lockDigest(tx, sha256)
        const gone = await tx
          .delete(blobs)
          .where(sql`${blobs.sha256} = ${sha256} AND ${blobs.storedAt} < ${before}`)
          .returning({ bytes: blobs.bytes })
        if (gone.length === 0) return undefined
        await tx.delete(blobChunks).where(eq(blobChunks.sha256, sha256))
        return gone[0]!.bytes
      }),
  }
}
