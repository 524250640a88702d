/** The 32 characters ids are made of: lowercase letters and digits, without l, o, 0 and 1. */
const ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789'

/** A random id that people can type: 12 characters of lowercase base32 (60 bits). */
export function newId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12))
  return Array.from(bytes, (b) => ALPHABET[b % 32]).join('')
}

/** The same characters in byte order, so ids written with them sort as the numbers they spell. */
const SORTED = [...ALPHABET].sort().join('')

/** Ordered ids count milliseconds from here (2025-01-01 UTC): 8 characters last until 2059. */
const EPOCH_MS = Date.UTC(2025, 0, 1)

/** The sequence part of ordered ids: starts anywhere, never goes back within a process. */
let sequence = crypto.getRandomValues(new Uint32Array(1))[0]!

/** `n` as `width` characters of SORTED, most significant first. */
function spell(n: number, width: number): string {
  let out = ''
  for (let i = 0; i < width; i++) {
    out = SORTED[n % 32]! + out
    n = Math.floor(n / 32)
  }
  return out
}

/**
 * An id like `newId`'s (12 characters, the same alphabet) that grows with time: 8 characters of
 * milliseconds, then 4 of a sequence this process never repeats. Rows keyed by such ids land at
 * the end of their indexes, so the pages a database writes per job stay few (random keys spread
 * every insert over the whole index: a quarter of SQLite's cost per job in the dispatch bench).
 * Unique within one process; for ids several processes make at once, use `newId`.
 */
export function newOrderedId(now = Date.now()): string {
  sequence = (sequence + 1) % 32 ** 4
  return spell(Math.max(0, now - EPOCH_MS) % 32 ** 8, 8) + spell(sequence, 4)
}

/** Array ids have one character more than job ids, so the two kinds are never mistaken for each other. */
export const ARRAY_ID_LENGTH = 13

/** A new array id: job ids' alphabet, `ARRAY_ID_LENGTH` characters. */
export function newArrayId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(ARRAY_ID_LENGTH))
  return Array.from(bytes, (b) => ALPHABET[b % 32]).join('')
}

/** True when `id` has the shape of an array id (not whether it exists). */
export function isArrayId(id: string): boolean {
  return id.length === ARRAY_ID_LENGTH
}
