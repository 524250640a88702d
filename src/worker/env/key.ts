import { createHash } from 'node:crypto'

/** What an environment is made of: the same facts always give the same environment. */
export interface EnvFacts {
  /** The image's id as Docker reports it (`sha256:…`). */
  imageId: string
  /** The image's Python, e.g. `3.11.2`. */
  python: string
  /** Its platform tag (`linux-x86_64`, ABI and libc), which decides which wheels fit. */
  platform: string
  /** The job's requirements, normalised (canonical, sorted, unique). */
  requirements: readonly string[]
  index: string
  allowSource: boolean
}

/** The environment key: a hash of everything that decides what gets installed. */
export function envKey(f: EnvFacts): string {
  // A fixed field order and JSON keep two different lists from ever writing the same text.
  const text = JSON.stringify([
    'gridx-env-v1',
    f.imageId,
    f.python,
    f.platform,
    [...f.requirements],
    f.index,
    f.allowSource,
  ])
  return createHash('sha256').update(text).digest('hex')
}

/** The short form shown to users and used in volume names. */
export function shortKey(key: string): string {
  return key.slice(0, 12)
}
