/**
 * `--array` specs, as Slurm spells them: `0-99`, `1-7:2` (a step), `0,4,9`, lists of those
 * (`0-3,8,10-20:5`), and `%N` at the end to cap how many members run at once (`0-99%10`).
 * Pure, so the CLI checks a spec before it uploads anything and the coordinator expands it.
 */

/** An array spec expanded: its members' indexes (ascending, each once) and its cap. */
export interface ArraySpec {
  indexes: number[]
  /** Most members running at once; null for no cap. */
  cap: number | null
}

/** Largest index a member may have (Slurm's default MaxArraySize is far below it). */
export const MAX_ARRAY_INDEX = 1_000_000

/** Longest spec accepted, before any expansion. */
export const MAX_ARRAY_SPEC_CHARS = 1000

const ITEM = /^(\d+)(?:-(\d+)(?::(\d+))?)?$/

/**
 * Expands a spec, or returns what is wrong with it in the user's terms (a string). `max` bounds
 * the members before they are made, so `0-999999999` costs nothing to refuse.
 */
export function parseArraySpec(text: string, max: number): ArraySpec | string {
  const spec = text.trim()
  if (spec === '') return 'an --array spec lists indexes, e.g. 0-99, 1-7:2, 0,4,9 or 0-99%10'
  if (spec.length > MAX_ARRAY_SPEC_CHARS)
    return `an --array spec is at most ${MAX_ARRAY_SPEC_CHARS} characters`
  const [list = '', capText, extra] = spec.split('%')
  if (extra !== undefined) return `'${spec}' has more than one %: the cap comes once, at the end (0-99%10)`
  let cap: number | null = null
  if (capText !== undefined) {
    if (!/^\d+$/.test(capText) || Number(capText) < 1) {
      return `'%${capText}' is not a cap: after % comes how many members may run at once, 1 or more (0-99%10)`
    }
    cap = Number(capText)
  }
  const seen = new Set<number>()
  for (const raw of list.split(',')) {
    const item = raw.trim()
    const m = ITEM.exec(item)
    if (!m) {
      return `'${item}' is not an index, a range (0-99) or a stepped range (1-7:2) in --array '${spec}'`
    }
    const from = Number(m[1])
    const to = m[2] === undefined ? from : Number(m[2])
    const step = m[3] === undefined ? 1 : Number(m[3])
    if (to < from) return `the range ${item} goes backwards: write the smaller index first`
    if (step < 1) return `the step of ${item} must be 1 or more`
    if (to > MAX_ARRAY_INDEX) return `array indexes go up to ${MAX_ARRAY_INDEX}: ${item} is past that`
    // Counted before made, so a huge range is refused without building it.
    // Counted before made (a repeated index is refused anyway), so a huge range costs nothing.
    if (seen.size + Math.floor((to - from) / step) + 1 > max) return tooMany(max)
    for (let i = from; i <= to; i += step) {
      if (seen.has(i)) return `index ${i} appears twice in --array '${spec}'`
      seen.add(i)
    }
  }
  return { indexes: [...seen].sort((a, b) => a - b), cap }
}

function tooMany(max: number): string {
  return `an array has at most ${max} members on this coordinator (its operator sets it: serve --max-array)`
}
