import type { Dependency, QueuedJob } from './store'
import type { JobView } from '../protocol/api'

/** The API view of a job row. */
export function jobView(
  job: QueuedJob,
  ownerName: string,
  workerName: string | null,
  waiting: string | null = null,
  after: readonly Dependency[] = [],
): JobView {
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString())
  return {
    id: job.id,
    owner: ownerName,
    state: job.state,
    image: job.image,
    command: job.command,
    scriptName: job.scriptName,
    args: job.args,
    timeoutMs: job.timeoutMs,
    cpus: job.cpus,
    memoryBytes: job.memoryBytes,
    attempt: job.attempt,
    priority: job.priority,
    worker: workerName,
    waiting,
    name: job.name,
    labels: job.labels,
    // Values stay with the job: the dashboard shows this view to operators too.
    envNames: Object.keys(job.env),
    requirements: job.requirements,
    requiresPython: job.requiresPython,
    exitCode: job.exitCode,
    outcome: job.outcome,
    error: job.error,
    inputs: job.inputsBytes === null ? null : { bytes: job.inputsBytes },
    outputs:
      job.outputsSha256 === null ? null : { bytes: job.outputsBytes ?? 0, files: job.outputFiles ?? 0 },
    usage:
      job.wallMs === null
        ? null
        : { wallMs: job.wallMs, cpuMs: job.cpuMs, peakMemoryBytes: job.peakMemoryBytes },
    billedMs: job.billedMs,
    maxCostMc: job.maxCost,
    costMc: job.cost,
    createdAt: new Date(job.createdAt).toISOString(),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    array: job.arrayId === null ? null : { id: job.arrayId, index: job.arrayIndex ?? 0, cap: job.arrayCap },
    after: after.map((d) => ({ id: d.id, state: d.state })),
    afterAny: after.some((d) => d.anyEnd),
  }
}
