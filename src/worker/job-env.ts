import { envProblem } from '../protocol/job-meta'
import type { JobSpec } from '../protocol/worker'

/** What the sandbox itself sets in every job's container (see `containerEnv`). */
export interface SandboxEnv {
  workdir: string
  outputDir: string
  /** Where the job's installed packages are, when it has some. */
  pythonPath?: string | undefined
}

/**
 * Why this worker will not run a job with its environment, or undefined: the worker believes no
 * job, so it checks the names and sizes the coordinator checked (no GRIDX_*, none of the sandbox's own).
 */
export function jobEnvProblem(job: Pick<JobSpec, 'env'>): string | undefined {
  const why = envProblem(job.env)
  return why === undefined ? undefined : `the job's environment is refused by this worker: ${why}`
}

/**
 * The container's whole environment, minimal and explicit (no host variable): the sandbox's
 * defaults, then the job's own variables (which may replace LANG or PYTHONUNBUFFERED), then what
 * the sandbox owns (PATH, HOME, PYTHONPATH, GRIDX_*), last so that nothing a job says can replace it.
 */
export function containerEnv(job: Pick<JobSpec, 'jobId' | 'env' | 'array'>, sandbox: SandboxEnv): string[] {
  // One entry per name (a Map keeps the first place and the last value), so no runtime's rule
  // for duplicates decides which value a job sees.
  const env = new Map<string, string>([
    ['LANG', 'C.UTF-8'],
    ['PYTHONUNBUFFERED', '1'],
  ])
  for (const [k, v] of Object.entries(job.env)) env.set(k, v)
  env.set('PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
  env.set('HOME', sandbox.workdir)
  env.set('GRIDX_JOB_ID', job.jobId)
  env.set('GRIDX_OUTPUT', sandbox.outputDir)
  if (sandbox.pythonPath) env.set('PYTHONPATH', sandbox.pythonPath)
  // A member of an array (`gridx submit --array`) learns which one it is.
  if (job.array) {
    env.set('GRIDX_ARRAY_ID', job.array.id)
    env.set('GRIDX_ARRAY_INDEX', String(job.array.index))
  }
  return [...env].map(([k, v]) => `${k}=${v}`)
}
