// BullMQ's side of the baseline, in a process of its own (bench/child.ts), one process per role
// as Grid-X's simulated workers and clients are: 'producers' add `jobs` jobs from `producers`
// concurrent loops (queue.add) on 'start'; 'workers' run `workers` BullMQ Workers of concurrency
// `concurrency` whose processor returns at once, reporting completions every 100 ms.
import { Queue, Worker } from 'bullmq'
import { childSide, wallNow } from './child'

/** One side of the baseline. */
export interface BullConfig {
  role: 'producers' | 'workers'
  port: number
  queue: string
  jobs: number
  producers: number
  workers: number
  concurrency: number
}

if (import.meta.main) {
  const { config: c, send, next } = childSide<BullConfig>()
  const connection = { host: '127.0.0.1', port: c.port, maxRetriesPerRequest: null }
  if (c.role === 'producers') {
    const queue = new Queue(c.queue, { connection })
    await queue.waitUntilReady()
    send({ type: 'ready' })
    await next('start')
    const first = wallNow()
    let i = 0
    const lane = async () => {
      for (let n = i++; n < c.jobs; n = i++) await queue.add('bench', { n })
    }
    await Promise.all(Array.from({ length: c.producers }, lane))
    send({ type: 'done', first, last: wallNow() })
    await queue.close()
  } else {
    let completed = 0
    let last = 0
    const workers = Array.from(
      { length: c.workers },
      () => new Worker(c.queue, () => Promise.resolve(), { connection, concurrency: c.concurrency }),
    )
    for (const w of workers) {
      w.on('completed', () => {
        completed++
        last = wallNow()
      })
    }
    await Promise.all(workers.map((w) => w.waitUntilReady()))
    send({ type: 'ready' })
    const progress = setInterval(() => send({ type: 'progress', completed }), 100)
    await next('stop')
    clearInterval(progress)
    send({ type: 'done', completed, last })
    await Promise.all(workers.map((w) => w.close(true)))
  }
  await next('exit')
}
