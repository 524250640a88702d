// The BullMQ + Redis baseline, in the same run and the same shape as Grid-X's end-to-end figure:
// 32 concurrent producers add 5,000 jobs while 4 Workers of concurrency 8 (processor returns at
// once) take them; jobs/s from the first add to the last completion, with Redis's CPU and the
// producers' and workers' processes' CPU per job.
import type { BullConfig } from './bullmq-side'
import { Child } from './child'
import type { FlowShape } from './dispatch-flow'
import { cpuMs } from './profile'
import { type RedisPersistence, startRedis } from './redis'

/** What one BullMQ run measured. */
export interface BullResult {
  persistence: RedisPersistence
  jobs: number
  done: number
  wallMs: number
  jobsPerSecond: number
  cpuPerJobMs: { redis: number; workers: number; producers: number }
  errors: string[]
}

/** Runs the baseline once on a fresh private Redis of `persistence`. */
export async function bullBaseline(persistence: RedisPersistence, shape: FlowShape): Promise<BullResult> {
  const redis = await startRedis(persistence)
  const base: BullConfig = {
    role: 'workers',
    port: redis.port,
    queue: 'gridx-bench',
    jobs: shape.jobs,
    producers: shape.clients,
    workers: shape.workers,
    concurrency: shape.slots,
  }
  const workers = new Child('BullMQ workers', 'bullmq-side.ts', base)
  const producers = new Child('BullMQ producers', 'bullmq-side.ts', { ...base, role: 'producers' })
  let completed = 0
  workers.on('progress', (m) => void (completed = Number(m['completed'])))
  const errors: string[] = []
  try {
    await Promise.all([workers.next('ready', 60_000), producers.next('ready', 60_000)])
    const cpu = () => ({ redis: cpuMs(redis.pid), workers: workers.cpuMs(), producers: producers.cpuMs() })
    const cpu0 = cpu()
    producers.send({ type: 'start' })
    const added = producers.next('done')
    const deadline = performance.now() + Math.max(60_000, shape.jobs * 20)
    while (completed < shape.jobs && performance.now() < deadline) await Bun.sleep(10)
    const cpu1 = cpu()
    const { first } = (await added) as unknown as { first: number }
    workers.send({ type: 'stop' })
    const end = (await workers.next('done')) as unknown as { completed: number; last: number }
    if (end.completed < shape.jobs)
      errors.push(`BullMQ gave up: ${end.completed}/${shape.jobs} jobs completed`)
    const wallMs = end.last - first
    const per = (k: keyof ReturnType<typeof cpu>) => (cpu1[k] - cpu0[k]) / Math.max(1, end.completed)
    return {
      persistence,
      jobs: shape.jobs,
      done: end.completed,
      wallMs,
      jobsPerSecond: end.completed / (wallMs / 1000),
      cpuPerJobMs: { redis: per('redis'), workers: per('workers'), producers: per('producers') },
      errors,
    }
  } finally {
    await Promise.all([workers.stop(), producers.stop()])
    await redis.stop()
  }
}
