import { createHash } from 'node:crypto'
import { GridError } from '../../errors'

/**
 * The stage program's bytes: a static executable for this machine's architecture, built from
 * stage.c by `make build` (scripts/build-stage.sh) and embedded in the gridx executable. Imported
 * only when needed, so gridx run from source without it fails here, and says what to do.
 */
export async function stageProgram(): Promise<Uint8Array> {
  let path: string
  try {
    path = (await import('../../../dist/gridx-stage', { with: { type: 'file' } })).default
  } catch {
    throw new GridError(
      'no_stage_program',
      "gridx's stage program (dist/gridx-stage) is missing: build it with 'make build' (it needs gcc and musl-tools)",
    )
  }
  return Bun.file(path).bytes()
}

let digest: Promise<string> | undefined

/** A short digest of the stage program, which names the images prepared with it. */
export function stageDigest(): Promise<string> {
  digest ??= stageProgram().then((b) => createHash('sha256').update(b).digest('hex').slice(0, 12))
  digest.catch(() => (digest = undefined))
  return digest
}
