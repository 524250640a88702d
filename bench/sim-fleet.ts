// The simulated workers of a dispatch run in a process of their own (bench/child.ts): started with
// the coordinators' addresses and the owners' tokens, they connect on 'start' (answering 'ready'
// once every one is welcomed), report acknowledged results every 100 ms ('progress'), and on
// 'stop' hand back every assignment and acknowledgement they saw, stamped with wallNow().
import { childSide, wallNow } from './child'
import { SimWorker } from './sim-worker'

/** How the fleet is made. */
export interface FleetConfig {
  urls: string[]
  /** Tokens of the workers' owners, round-robin. */
  owners: string[]
  workers: number
  slots: number
}

/** What the fleet saw: assignments as [time, jobId, attempt, worker index], acknowledgement times. */
export interface FleetReport {
  type: 'done'
  assigns: [number, string, number, number][]
  acks: number[]
  /** Owner token index of each worker. */
  ownerOf: number[]
  workerIds: string[]
  refusedForNow: number
  refusedForGood: string[]
  reconnects: number
}

if (import.meta.main) {
  const { config, send, next } = childSide<FleetConfig>()
  const assigns: FleetReport['assigns'] = []
  const acks: number[] = []
  const index = new Map<SimWorker, number>()
  const events = {
    assigned: (jobId: string, _at: number, w: SimWorker, attempt: number) =>
      void assigns.push([wallNow(), jobId, attempt, index.get(w) ?? -1]),
    acked: () => void acks.push(wallNow()),
  }
  const workers: SimWorker[] = []
  for (let i = 0; i < config.workers; i++) {
    const w = new SimWorker(
      `w${i + 1}`,
      config.urls,
      config.owners[i % config.owners.length]!,
      config.slots,
      events,
      i,
    )
    index.set(w, i)
    workers.push(w)
  }
  await next('start')
  await Promise.all(workers.map((w) => w.start()))
  send({ type: 'ready', at: wallNow() })
  const progress = setInterval(
    () => send({ type: 'progress', acks: acks.length, assigns: assigns.length }),
    100,
  )
  await next('stop')
  clearInterval(progress)
  for (const w of workers) w.stop()
  const report: FleetReport = {
    type: 'done',
    assigns,
    acks,
    ownerOf: workers.map((_, i) => i % config.owners.length),
    workerIds: workers.map((w) => w.key.id),
    refusedForNow: workers.reduce((a, w) => a + w.refusedForNow, 0),
    refusedForGood: workers.flatMap((w) => w.refusedForGood.map((e) => `${w.name}: refused: ${e}`)),
    reconnects: workers.reduce((a, w) => a + w.reconnects, 0),
  }
  send(report)
  await next('exit')
  process.exit(0)
}
