import { newSigningKey } from '../../src/protocol/receipt'
import { Agent, type AgentOptions } from '../../src/worker/agent'
import { buildPolicy } from '../../src/worker/policy'
import type { ContainerRuntime, EngineInfo } from '../../src/worker/runtime'

const engine: EngineInfo = {
  version: 'fake',
  cpus: 2,
  memoryBytes: 4 * 1024 ** 3,
  endpoint: 'fake',
  runtimes: ['runc'],
}

/** A runtime for agents that connect but never get a job. */
const noJobs: ContainerRuntime = {
  info: () => Promise.resolve(engine),
  hasImage: () => Promise.resolve(true),
  pull: () => Promise.resolve(),
  removeLeftovers: () => Promise.resolve([]),
  localImages: () => Promise.resolve([]),
  prepare: (ref: string) => Promise.resolve(ref),
  start: () => Promise.reject(new Error('no jobs in these tests')),
}

/** A real agent (real socket, real reconnect loop) with containers faked; `logs` collects its log lines. */
export function fakeAgent(
  opts: Pick<AgentOptions, 'addr' | 'token'> & Partial<AgentOptions>,
  logs: string[],
): Agent {
  return new Agent({
    workerId: `worker-${crypto.randomUUID()}`,
    name: 'fake',
    slots: 1,
    engine,
    runtime: noJobs,
    policy: buildPolicy({ images: ['*'] }, engine, []),
    transfer: {
      inputs: () => Promise.reject(new Error('no inputs in these tests')),
      putOutputs: () => Promise.resolve(),
    },
    key: newSigningKey(),
    backoff: { baseMs: 100, maxMs: 400 },
    log: (l) => logs.push(l),
    ...opts,
  })
}
