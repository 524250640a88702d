import type { FinishedBucket, SeenWorker, StatsRepo, UserSummary } from '../types'
import type { Db } from './db'

type Num = number | string | bigint

/** The dashboard's figures on PostgreSQL, each one statement read from an index (migration 0004). */
export function pgStats(db: Db): StatsRepo {
  const sql = db.$client
  return {
    finishedSince: async (since, bucketMs) => {
      const rows: { at: Num; state: FinishedBucket['state']; n: Num }[] = await sql`
        SELECT (finished_at / ${bucketMs}::int8) * ${bucketMs}::int8 AS at, state, count(*) AS n FROM jobs
        WHERE finished_at >= ${since}::int8 GROUP BY 1, 2 ORDER BY 1, state COLLATE "C"`
      return rows.map((r) => ({ at: Number(r.at), state: r.state, n: Number(r.n) }))
    },
    escrowTotal: async () => {
      const [row]: { total: Num }[] =
        await sql`SELECT coalesce(sum(balance), 0) AS total FROM accounts WHERE kind = 'escrow'`
      return Number(row?.total ?? 0)
    },
    workerTotals: async () => {
      const rows: { id: string; jobs: Num; earned: Num }[] = await sql`
        SELECT worker_id AS id, count(*) AS jobs, coalesce(sum(cost), 0) AS earned FROM jobs
        WHERE finished_at IS NOT NULL AND worker_id IS NOT NULL GROUP BY worker_id`
      return new Map(rows.map((r) => [r.id, { jobs: Number(r.jobs), earnedMc: Number(r.earned) }]))
    },
    workersSeen: async (since) => {
      const rows: (Omit<SeenWorker, 'firstSeenAt' | 'lastSeenAt'> & { firstSeenAt: Num; lastSeenAt: Num })[] =
        await sql`
        SELECT w.id, w.owner_id AS "ownerId", w.name, w.public_key AS "publicKey",
               w.first_seen_at AS "firstSeenAt", w.last_seen_at AS "lastSeenAt", u.name AS owner
        FROM workers w JOIN users u ON u.id = w.owner_id
        WHERE w.last_seen_at >= ${since}::int8 ORDER BY w.last_seen_at DESC, w.id COLLATE "C"`
      return rows.map((r) => ({ ...r, firstSeenAt: Number(r.firstSeenAt), lastSeenAt: Number(r.lastSeenAt) }))
    },
    users: async (limit) => {
      const rows: (Omit<UserSummary, 'createdAt' | 'balance' | 'escrow' | 'jobs'> & {
        createdAt: Num
        balance: Num
        escrow: Num
        jobs: Num
      })[] = await sql`
        SELECT u.id, u.name, u.is_admin AS "isAdmin", u.created_at AS "createdAt",
               coalesce((SELECT balance FROM accounts WHERE id = 'user:' || u.id), 0) AS balance,
               coalesce((SELECT balance FROM accounts WHERE id = 'escrow:' || u.id), 0) AS escrow,
               (SELECT count(*) FROM jobs j WHERE j.owner_id = u.id) AS jobs
        FROM users u ORDER BY u.seq DESC LIMIT ${limit}::int8`
      const [count] = await sql<{ n: Num }[]>`SELECT count(*) AS n FROM users`
      return {
        users: rows.map((r) => ({
          ...r,
          createdAt: Number(r.createdAt),
          balance: Number(r.balance),
          escrow: Number(r.escrow),
          jobs: Number(r.jobs),
        })),
        total: Number(count?.n ?? 0),
      }
    },
  }
}
