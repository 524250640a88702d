import { createHash, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { GridError } from '../../errors'

/**
 * The scrape token of `gridx serve --metrics-token-file`: the file's content, trimmed. A missing,
 * unreadable or empty file stops the start, saying what to do.
 */
export function readMetricsToken(path: string, flag: string): string {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    const why = (err as { code?: string }).code === 'ENOENT' ? 'no such file' : (err as Error).message
    throw new GridError(
      'bad_metrics_token',
      `${flag} ${path}: cannot read it (${why}): write a long random token into it, e.g. 'openssl rand -hex 32 > ${path}'`,
    )
  }
  const token = text.trim()
  if (token === '' || /\s/.test(token)) {
    throw new GridError(
      'bad_metrics_token',
      `${flag} ${path}: ${token === '' ? 'the file is empty' : 'the token has spaces in it'}: write one long random token into it, e.g. 'openssl rand -hex 32 > ${path}'`,
    )
  }
  return token
}

/** Whether `given` is the scrape token, compared in constant time (by digest: lengths may differ). */
export function isMetricsToken(given: string, token: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest()
  return timingSafeEqual(digest(given), digest(token))
}
