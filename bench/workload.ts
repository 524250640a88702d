import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { BenchGrid } from './grid'
import { run, type Ran } from './proc'

/** The image both sides run. */
export const IMAGE = 'gridx-local/python:bookworm'
/** The trivial job. */
export const SCRIPT = 'print("ok")\n'

/** `docker run` with the same sandbox as a Grid-X job (no network, no caps, limits, init, nobody). */
export const DOCKER_RUN = [
  'docker',
  'run',
  '--rm',
  '--network',
  'none',
  '--cpus',
  '1',
  '--memory',
  '512m',
  '--memory-swap',
  '512m',
  '--cap-drop',
  'ALL',
  '--security-opt',
  'no-new-privileges',
  '--pids-limit',
  '512',
  '--init',
  '--user',
  '65534:65534',
  IMAGE,
  'python3',
  '-u',
  '-c',
  SCRIPT.trim(),
]

/** Writes the job script into `dir` and returns its path. */
export function writeScript(dir: string): string {
  const path = join(dir, 'job.py')
  writeFileSync(path, SCRIPT)
  return path
}

/** The submit flags shared by the latency and throughput runs. */
export const SUBMIT_FLAGS = ['--quiet', '--image', IMAGE, '--cpus', '1', '--memory', '512m']

/** `gridx submit --quiet ... job.py`, waiting for the job to end. */
export function gridxOnce(grid: BenchGrid, script: string): Promise<Ran> {
  return grid.gridx(['submit', ...SUBMIT_FLAGS, script], { timeoutMs: 120_000 })
}

/** The same job through plain `docker run`. */
export function dockerOnce(): Promise<Ran> {
  return run(DOCKER_RUN, { timeoutMs: 120_000 })
}

/** True when a run printed exactly the job's output and exited 0. */
export function succeeded(r: Ran): boolean {
  return r.code === 0 && r.stdout === 'ok\n'
}
