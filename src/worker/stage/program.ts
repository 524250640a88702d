import { createHash } from 'node:crypto'
import { GridError } from '../../errors'

/** The stage program, read once: its bytes and a short digest, which names the images prepared with it. */
export interface StageProgram {
  bytes: Uint8Array
  digest: string
}

let loaded: Promise<StageProgram> | undefined

/**
 * The stage program: a static executable for this machine's architecture, built from stage.c by
 * `make build` (scripts/build-stage.sh) and embedded in the gridx executable. Imported only when
 * needed, so gridx run from source without it fails here, and says what to do.
 */
export function stageProgram(): Promise<StageProgram> {
  loaded ??= load()
  loaded.catch(() => (loaded = undefined))
  return loaded
}

async function load(): Promise<StageProgram> {
  let path: string
  try {
    path = (await import('../../../dist/gridx-stage', { with: { type: 'file' } })).default
  } catch {
    throw new GridError(
      'no_stage_program',
      "gridx's stage program (dist/gridx-stage) is missing: build it with 'make build' (it needs gcc and musl-tools)",
    )
  }
  const bytes = await Bun.file(path).bytes()
  return { bytes, digest: createHash('sha256').update(bytes).digest('hex').slice(0, 12) }
}
