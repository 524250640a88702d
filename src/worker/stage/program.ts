// Built from stage.c by `make build` (scripts/build-stage.sh) and embedded in the gridx executable.
import programPath from '../../../dist/gridx-stage' with { type: 'file' }

/** The stage program's bytes: a static executable for this machine's architecture. */
export function stageProgram(): Promise<Uint8Array> {
  return Bun.file(programPath).bytes()
}
