import { resolve } from 'node:path'
import { GridError } from '../../errors'

/** A Linux architecture a stage program is built for, named as Bun and Node name CPUs. */
export type StageArch = 'x64' | 'arm64'

/** The stage program for one architecture: its bytes and a short digest, which names the images prepared with it. */
export interface StageProgram {
  arch: StageArch
  bytes: Uint8Array
  digest: string
}

/** Where `make build` leaves the native stage program; read from here only when gridx runs from source. */
const SOURCE_STAGE = resolve(import.meta.dir, '../../../dist/gridx-stage')

/** ELF e_machine values of the architectures gridx carries a stage program for. */
const ELF_MACHINE: Readonly<Record<number, StageArch>> = { 62: 'x64', 183: 'arm64' }

/** The architecture of a static Linux executable, from its ELF header; undefined when it is not one we know. */
export function elfArch(bytes: Uint8Array): StageArch | undefined {
  const elf = bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46
  // Both known machines are little-endian (EI_DATA = 1), so e_machine is bytes 18-19, low first.
  if (!elf || bytes[5] !== 1 || bytes.length < 20) return undefined
  return ELF_MACHINE[(bytes[18] ?? 0) | ((bytes[19] ?? 0) << 8)]
}

/** Docker's names for the CPUs (`docker info` Architecture: `uname -m` of the engine's kernel). */
const DOCKER_ARCH: ReadonlyMap<string, StageArch> = new Map([
  ['x86_64', 'x64'],
  ['amd64', 'x64'],
  ['x64', 'x64'],
  ['aarch64', 'arm64'],
  ['arm64', 'arm64'],
])

/** The engine's architecture as Docker reports it (`docker info` Architecture) in gridx's terms. */
export function engineArch(reported: string | undefined): StageArch | undefined {
  return reported === undefined ? undefined : DOCKER_ARCH.get(reported.toLowerCase())
}

// Bun's own hasher, not node:crypto's: loading node:crypto (and the streams under it) was a
// good part of what `gridx --version` cost.
const sha256Hex = (bytes: Uint8Array) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')

let loaded: Promise<Map<StageArch, StageProgram>> | undefined

/**
 * Every stage program this gridx carries, by architecture. A built gridx embeds them as files
 * (`bun build --compile src/main.ts dist/gridx-stage ...`: the native one for `make build`, x64
 * and arm64 for `make release`), found in Bun.embeddedFiles and told apart by their ELF header,
 * so no file name matters. Run from source, it reads dist/gridx-stage.
 */
export function stagePrograms(): Promise<Map<StageArch, StageProgram>> {
  loaded ??= load()
  loaded.catch(() => (loaded = undefined))
  return loaded
}

async function load(): Promise<Map<StageArch, StageProgram>> {
  const files = Bun.embeddedFiles.filter((f) =>
    (f as Blob & { name?: string }).name?.startsWith('gridx-stage'),
  )
  const blobs: Blob[] =
    files.length > 0 ? files : (await Bun.file(SOURCE_STAGE).exists()) ? [Bun.file(SOURCE_STAGE)] : []
  const found = new Map<StageArch, StageProgram>()
  for (const blob of blobs) {
    const bytes = await blob.bytes()
    const arch = elfArch(bytes)
    if (!arch) continue
    found.set(arch, { arch, bytes, digest: sha256Hex(bytes).slice(0, 12) })
  }
  return found
}

/**
 * The stage program for a Docker engine of architecture `arch` (a Linux kernel: Docker Desktop's
 * VM on macOS and Windows runs arm64 or x64 too), or a GridError saying what this gridx carries.
 */
export async function stageProgram(arch: StageArch): Promise<StageProgram> {
  const all = await stagePrograms()
  const stage = all.get(arch)
  if (stage) return stage
  if (all.size === 0) {
    throw new GridError(
      'no_stage_program',
      "gridx's stage program (dist/gridx-stage) is missing: build it with 'make build' (it needs gcc and musl-tools)",
    )
  }
  throw new GridError(
    'no_stage_for_engine',
    `the Docker engine runs linux/${arch}, and this gridx carries the stage program for ${[...all.keys()].map((a) => `linux/${a}`).join(', ')} only: use a release binary (they carry x64 and arm64; 'make release'), or build gridx on a linux/${arch} machine`,
  )
}
