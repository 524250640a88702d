import type { Database } from 'bun:sqlite'
import type { FinishedBucket, SeenWorker, StatsRepo, UserSummary, WorkerTotals } from '../types'

/**
 * The dashboard's figures on SQLite, each one statement read from an index: `jobs_finished` and
 * `jobs_worker_done` (migration 0009) hold only ended jobs, so live ones never slow them.
 */
export function sqliteStats(sqlite: Database): StatsRepo {
  const finished = sqlite.query<FinishedBucket, [number, number]>(
    `SELECT (finished_at / ?2) * ?2 AS at, state, count(*) AS n FROM jobs
     WHERE finished_at >= ?1 GROUP BY 1, 2 ORDER BY 1, 2`,
  )
  const escrow = sqlite.query<{ total: number }, []>(
    `SELECT coalesce(sum(balance), 0) AS total FROM accounts WHERE kind = 'escrow'`,
  )
  const totals = sqlite.query<WorkerTotals & { id: string }, []>(
    `SELECT worker_id AS id, count(*) AS jobs, coalesce(sum(cost), 0) AS earnedMc FROM jobs
     WHERE finished_at IS NOT NULL AND worker_id IS NOT NULL GROUP BY worker_id`,
  )
  const seen = sqlite.query<SeenWorker, [number]>(
    `SELECT w.id, w.owner_id AS ownerId, w.name, w.public_key AS publicKey, w.first_seen_at AS firstSeenAt,
            w.last_seen_at AS lastSeenAt, u.name AS owner
     FROM workers w JOIN users u ON u.id = w.owner_id
     WHERE w.last_seen_at >= ?1 ORDER BY w.last_seen_at DESC, w.id`,
  )
  const users = sqlite.query<Omit<UserSummary, 'isAdmin'> & { isAdmin: number }, [number]>(
    `SELECT u.id, u.name, u.is_admin AS isAdmin, u.created_at AS createdAt,
            coalesce((SELECT balance FROM accounts WHERE id = 'user:' || u.id), 0) AS balance,
            coalesce((SELECT balance FROM accounts WHERE id = 'escrow:' || u.id), 0) AS escrow,
            (SELECT count(*) FROM jobs j WHERE j.owner_id = u.id) AS jobs
     FROM users u ORDER BY u.rowid DESC LIMIT ?1`,
  )
  const userCount = sqlite.query<{ n: number }, []>('SELECT count(*) AS n FROM users')
  return {
    finishedSince: async (since, bucketMs) => finished.all(since, bucketMs),
    escrowTotal: async () => escrow.get()?.total ?? 0,
    workerTotals: async () => new Map(totals.all().map(({ id, ...t }) => [id, t])),
    workersSeen: async (since) => seen.all(since),
    users: async (limit) => ({
      users: users.all(limit).map((u) => ({ ...u, isAdmin: u.isAdmin === 1 })),
      total: userCount.get()?.n ?? 0,
    }),
  }
}
