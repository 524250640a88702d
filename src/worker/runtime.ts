/** What the worker knows of its container engine. */
export interface EngineInfo {
  version: string
  cpus: number
  memoryBytes: number
  /** Where the engine was found, for messages. */
  endpoint: string
}

/** Everything needed to start one job's container. */
export interface ContainerSpec {
  name: string
  image: string
  cmd: string[]
  env: string[]
  workdir: string
  files: { name: string; data: Uint8Array }[]
  labels: Record<string, string>
  cpus: number
  memoryBytes: number
}

/** A started container. `wait` resolves once it exited and all its output was delivered. */
export interface RunningContainer {
  id: string
  wait(): Promise<{ exitCode: number; oomKilled: boolean }>
  kill(): Promise<void>
  remove(): Promise<void>
}

/** The seam between the executor and a container engine (Docker in production). */
export interface ContainerRuntime {
  info(): Promise<EngineInfo>
  hasImage(ref: string): Promise<boolean>
  pull(ref: string, onProgress: (line: string) => void): Promise<void>
  start(
    spec: ContainerSpec,
    onOutput: (stream: 'stdout' | 'stderr', data: Buffer) => void,
  ): Promise<RunningContainer>
  /** Removes this worker's containers (by label) except those of `keepJobs`; returns their job ids. */
  removeLeftovers(workerId: string, keepJobs?: ReadonlySet<string>): Promise<string[]>
}
