import type { CommandModule } from 'yargs'
import { stagePrograms } from '../worker/stage/program'
import { platformName, VERSION } from '../version'
import { jsonOption, out } from './options'

/** What a gridx binary is: its release, the platform it runs on, its Bun, and the Docker engines it can run jobs on. */
export interface VersionReport {
  version: string
  platform: string
  bun: string
  /** Linux CPU architectures of the stage programs carried: the Docker engines this binary can work for. */
  stages: string[]
  /** The version of every command's `--json` output (docs/JSON.md): fields are only added within one. */
  json: number
}

/** The facts `gridx version` prints. */
export async function versionReport(): Promise<VersionReport> {
  const stages = [...(await stagePrograms()).keys()].sort((a, b) => (a === 'x64' ? -1 : b === 'x64' ? 1 : 0))
  return {
    version: VERSION,
    platform: platformName(),
    bun: Bun.version,
    stages: stages.map((a) => `linux-${a}`),
    json: 1,
  }
}

/** `gridx version` (also `gridx --version`): which binary this is, so a user can tell they have the right file. */
export function versionCommand(): CommandModule<object, { json?: boolean }> {
  return {
    command: 'version',
    describe:
      'print the release, the platform of this binary, its Bun and the Docker engine CPUs it runs jobs on',
    builder: (y) => jsonOption(y),
    handler: (a) => printVersion(a.json ?? false),
  }
}

/** Prints what `gridx version` says (also `gridx --version`, which main.ts runs without yargs). */
export async function printVersion(json: boolean): Promise<void> {
  const r = await versionReport()
  if (json) return out(JSON.stringify(r))
  out(`gridx ${r.version}`)
  out(`platform: ${r.platform}`)
  out(`bun: ${r.bun}`)
  out(
    `stage programs: ${r.stages.length ? r.stages.join(', ') : "none (run from source without 'make build')"} (jobs run on Docker engines of these CPUs)`,
  )
}
