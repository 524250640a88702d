import { and, desc, eq, getTableColumns, inArray, lt, or, sql, type SQL } from 'drizzle-orm'
import * as schema from '../../../db/sqlite/schema'
import { globPattern, listingLimit, prefixPattern, searchPatterns } from '../listing-rules'
import type { JobListing, ListedJob } from '../types'
import { isFinal } from '../../../protocol/api'
import type { Db } from './ledger'
import { liveJobs } from './live'

const { jobs, users } = schema

// eslint-disable-next-line @typescript-eslint/no-unused-vars -- dropped on purpose: scripts can be megabytes
const { script, ...cols } = getTableColumns(jobs)

/** A page of jobs as the dashboard lists them, newest first (the `jobs_owner` index serves one owner's). */
export function sqliteListJobs(db: Db, listing: JobListing): ListedJob[] {
  const where: (SQL | undefined)[] = []
  if (listing.ownerId !== undefined) where.push(eq(jobs.ownerId, listing.ownerId))
  if (listing.state !== undefined) where.push(eq(jobs.state, listing.state))
  const search = searchPatterns(listing)
  if (search) {
    where.push(
      or(
        sql`lower(${jobs.id}) like ${search.idPrefix} escape '\\'`,
        sql`lower(coalesce(${jobs.scriptName}, '')) like ${search.nameContains} escape '\\'`,
        sql`lower(coalesce(${jobs.name}, '')) like ${search.nameContains} escape '\\'`,
      ),
    )
  }
  // Names, labels and id prefixes (issue 17): one owner's jobs come from the jobs_owner index, then these.
  if (listing.states) where.push(inArray(jobs.state, [...listing.states]))
  // Live states only: the jobs_live index holds those jobs, not the table's ended ones.
  const states = listing.states ?? (listing.state === undefined ? [] : [listing.state])
  if (states.length > 0 && !states.some(isFinal)) where.push(liveJobs)
  if (listing.name !== undefined) {
    where.push(sql`lower(coalesce(${jobs.name}, '')) like ${globPattern(listing.name)} escape '\\'`)
  }
  if (listing.idPrefix !== undefined)
    where.push(sql`${jobs.id} like ${prefixPattern(listing.idPrefix)} escape '\\'`)
  for (const [key, value] of Object.entries(listing.labels ?? {})) {
    where.push(sql`json_extract(${jobs.labels}, ${`$.${JSON.stringify(key)}`}) = ${value}`)
  }
  const before = listing.before
  if (before) {
    where.push(
      or(
        lt(jobs.createdAt, before.createdAt),
        and(eq(jobs.createdAt, before.createdAt), lt(jobs.id, before.id)),
      ),
    )
  }
  return db
    .select({ ...cols, ownerName: users.name })
    .from(jobs)
    .innerJoin(users, eq(users.id, jobs.ownerId))
    .where(and(...where))
    .orderBy(desc(jobs.createdAt), desc(jobs.id))
    .limit(listingLimit(listing))
    .all()
}
