import { and, eq, sql } from 'drizzle-orm'
import * as schema from '../../../db/postgres/schema'
import type { FilesRepo } from '../types'
import type { Db } from './db'

const { uploads } = schema

/** Stored archives on PostgreSQL. */
export function pgFiles(db: Db): FilesRepo {
  return {
    recordUpload: async (sha256, ownerId, bytes, files, at) => {
      await db
        .insert(uploads)
        .values({ sha256, ownerId, bytes, files, createdAt: at })
        .onConflictDoUpdate({ target: [uploads.sha256, uploads.ownerId], set: { createdAt: at } })
    },
    // One statement, so one snapshot: a job committed after it is not half-seen. The CTE's
    // DELETE is invisible to the SELECT of the same statement, hence the cutoff there too.
    toKeep: async (cutoff) => {
      const rows = await db.execute(sql`
        WITH gone AS (DELETE FROM uploads WHERE created_at < ${cutoff})
        SELECT sha256 FROM uploads WHERE created_at >= ${cutoff}
        UNION SELECT inputs_sha256 FROM jobs WHERE state IN ('queued', 'assigned', 'running')
        UNION SELECT a.outputs_sha256 FROM attempts a JOIN jobs j ON j.id = a.job_id
          WHERE j.state IN ('queued', 'assigned', 'running')
        UNION SELECT outputs_sha256 FROM jobs WHERE finished_at >= ${cutoff}`)
      return new Set(rows.flatMap((r) => (typeof r.sha256 === 'string' ? [r.sha256] : [])))
    },
    // The same rules as toKeep, for one user; an archive counts once however often it is named.
    keptArchives: async (ownerId, cutoff) => {
      const rows = await db.execute(sql`
        SELECT sha256, MAX(bytes) AS bytes FROM (
          SELECT sha256, bytes FROM uploads WHERE owner_id = ${ownerId} AND created_at >= ${cutoff}
          UNION ALL SELECT inputs_sha256, COALESCE(inputs_bytes, 0) FROM jobs
            WHERE state IN ('queued', 'assigned', 'running') AND owner_id = ${ownerId} AND inputs_sha256 IS NOT NULL
          UNION ALL SELECT a.outputs_sha256, COALESCE(a.outputs_bytes, 0) FROM jobs j
            JOIN attempts a ON a.job_id = j.id
            WHERE j.state IN ('queued', 'assigned', 'running') AND j.owner_id = ${ownerId} AND a.outputs_sha256 IS NOT NULL
          UNION ALL SELECT a.outputs_sha256, COALESCE(a.outputs_bytes, 0) FROM jobs j
            JOIN attempts a ON a.job_id = j.id AND a.outputs_sha256 = j.outputs_sha256
            WHERE j.owner_id = ${ownerId} AND j.outputs_sha256 IS NOT NULL AND j.finished_at >= ${cutoff}
        ) kept GROUP BY sha256`)
      return new Map(rows.map((r) => [String(r.sha256), Number(r.bytes)]))
    },
    uploadOf: async (sha256, ownerId) =>
      (
        await db
          .select({ bytes: uploads.bytes, files: uploads.files })
          .from(uploads)
          .where(and(eq(uploads.sha256, sha256), eq(uploads.ownerId, ownerId)))
      )[0],
  }
}
