import type { JobListing } from './types'

/** Most jobs one listing page may ask for. */
export const MAX_LISTING = 1000

/** `text` as a literal inside a LIKE pattern (escape character `\`), lower-cased. */
function literal(text: string): string {
  return text.toLowerCase().replace(/[\\%_]/g, (ch) => `\\${ch}`)
}

/**
 * The LIKE patterns of a listing's search, both engines alike (matched against lower-cased
 * columns with `ESCAPE '\'`): ids that start with it, script names that contain it.
 */
export function searchPatterns(listing: JobListing): { idPrefix: string; nameContains: string } | undefined {
  const search = listing.search?.trim()
  if (!search) return undefined
  const lit = literal(search)
  return { idPrefix: `${lit}%`, nameContains: `%${lit}%` }
}

/** The page size a listing asks for, within 1..MAX_LISTING. */
export function listingLimit(listing: JobListing): number {
  return Math.min(Math.max(Math.floor(listing.limit) || 1, 1), MAX_LISTING)
}

/**
 * A name glob (`sweep*`, `run-?`) as a LIKE pattern for lower-cased names (escape `\\`): `*` any
 * run of characters, `?` exactly one, everything else literal.
 */
export function globPattern(glob: string): string {
  return [...glob.toLowerCase()].map((ch) => (ch === '*' ? '%' : ch === '?' ? '_' : literal(ch))).join('')
}

/** An id prefix as a LIKE pattern (ids are lower-case letters and digits; anything else is literal). */
export function prefixPattern(prefix: string): string {
  return `${literal(prefix)}%`
}
