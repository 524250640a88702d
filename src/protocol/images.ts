/**
 * Image references and the allowlist a worker's owner sets. References are compared in their
 * familiar short form, so `python:3.12`, `library/python:3.12` and `docker.io/library/python:3.12`
 * are the same image, and a reference without a tag means `:latest`.
 */

/** The image a script runs in unless `gridx submit --image` says otherwise. */
export const DEFAULT_IMAGE = 'python:3.12-slim'

/** The allowlist a worker has unless its owner sets one. */
export const DEFAULT_IMAGE_ALLOWLIST: readonly string[] = ['python:*']

/** The short form of an image reference: no docker.io/ or library/ prefix, `:latest` when untagged. */
export function normalizeImage(ref: string): string {
  let r = ref.trim()
  r = r.replace(/^(?:docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, '')
  r = r.replace(/^library\//, '')
  const lastSlash = r.lastIndexOf('/')
  const hasTag = r.slice(lastSlash + 1).includes(':') || r.includes('@')
  return hasTag ? r : `${r}:latest`
}

/**
 * True when `pattern` matches the image. `*` matches any run of characters except `/`, so
 * `python:*` cannot reach another registry (`python:5000/x/y`); `**` crosses `/` too, and a
 * pattern that is only `*` allows every image.
 */
export function imageMatches(pattern: string, ref: string): boolean {
  const p = pattern.trim()
  if (p === '*' || p === '**') return true
  const norm = p.includes('*') ? p.replace(/^(?:docker\.io\/)?(?:library\/)?/, '') : normalizeImage(p)
  return glob(norm, normalizeImage(ref))
}

/**
 * Wildcard match in linear time (no backtracking regex: patterns come from workers and must
 * not be able to stall the scheduler). Greedy with one saved star per kind, as in classic globbing.
 */
function glob(pattern: string, text: string): boolean {
  let p = 0
  let t = 0
  // The last star seen (pattern index just after it) and how far into the text it reaches;
  // also the last `**`, to fall back to when a `*` cannot cross a `/`.
  let star = -1
  let wide = false
  let mark = 0
  let wideStar = -1
  let wideMark = 0
  while (t < text.length) {
    if (p < pattern.length && pattern[p] === '*') {
      wide = pattern[p + 1] === '*'
      p += wide ? 2 : 1
      star = p
      mark = t
      if (wide) {
        wideStar = p
        wideMark = t
      }
    } else if (p < pattern.length && pattern[p] === text[t]) {
      p++
      t++
    } else if (star >= 0 && (wide || text[mark] !== '/')) {
      mark++
      t = mark
      p = star
    } else if (wideStar >= 0) {
      wideMark++
      star = wideStar
      wide = true
      mark = wideMark
      t = mark
      p = star
    } else {
      return false
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++
  return p === pattern.length
}

/** True when any pattern of the allowlist matches the image. */
export function imageAllowed(allowlist: readonly string[], ref: string): boolean {
  return allowlist.some((p) => imageMatches(p, ref))
}
