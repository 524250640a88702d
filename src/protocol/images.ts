/**
 * Image references and the allowlist a worker's owner sets. References are compared in their
 * familiar short form, so `python:3.12`, `library/python:3.12` and `docker.io/library/python:3.12`
 * are the same image, and a reference without a tag means `:latest`.
 */

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

/** True when `pattern` (`*` matches anything, including `/` and `:`) matches the image. */
export function imageMatches(pattern: string, ref: string): boolean {
  const p = pattern.trim()
  if (p === '*') return true
  const norm = p.endsWith('*') ? p.replace(/^(?:docker\.io\/)?(?:library\/)?/, '') : normalizeImage(p)
  const re = new RegExp(`^${norm.split('*').map(escape).join('.*')}$`)
  return re.test(normalizeImage(ref))
}

/** True when any pattern of the allowlist matches the image. */
export function imageAllowed(allowlist: readonly string[], ref: string): boolean {
  return allowlist.some((p) => imageMatches(p, ref))
}

function escape(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')
}
