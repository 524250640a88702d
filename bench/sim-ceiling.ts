// How fast the dispatch bench's own side can go: the simulated workers and the submitting clients
// against a stand-in coordinator that does nothing but hand each submitted job to a free slot
// (no store, no checks). Whatever Grid-X measures must stay well under this ceiling, or the
// bench is measuring itself. `bun bench/sim-ceiling.ts` (BENCH_DISPATCH_JOBS, _CLIENTS, _WORKERS,
// _SLOTS as in dispatch.ts); `bun bench/sim-ceiling.ts serve` is the stand-in (it prints the
// banner bench/dispatch-grid.ts waits for).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ServerWebSocket } from 'bun'
import { startCoordinator } from './dispatch-grid'
import { type FlowResult, type FlowShape, measureFlow } from './dispatch-flow'
import { accounts } from './dispatch-measure'
import { envInt } from './env'

interface Slotted {
  free: number
}

/** The stand-in coordinator: queue in memory, every free slot filled at once, every result acknowledged. */
function serve(): void {
  const queue: string[] = []
  const sockets = new Set<ServerWebSocket<Slotted>>()
  let next = 0
  const fill = () => {
    for (const ws of sockets) {
      while (ws.data.free > 0 && queue.length > 0) {
        ws.data.free--
        ws.send(JSON.stringify({ type: 'job.assign', job: { jobId: queue.shift(), attempt: 1 } }))
      }
    }
  }
  const json = (v: unknown, status = 200) => Response.json(v, { status })
  const server = Bun.serve<Slotted>({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req, srv) {
      const path = new URL(req.url).pathname
      if (path === '/ws/worker') return srv.upgrade(req, { data: { free: 0 } }) ? undefined : json({}, 400)
      if (path === '/health') return json({ queuedJobs: queue.length, runningJobs: 0 })
      if (path === '/api/auth/login') return json({ token: 'stand-in' })
      await req.arrayBuffer()
      if (path === '/api/jobs') {
        const id = `job-${++next}`
        queue.push(id)
        fill()
        return json({ id }, 201)
      }
      return json({}, 201)
    },
    websocket: {
      open: (ws) => void sockets.add(ws),
      close: (ws) => void sockets.delete(ws),
      message(ws, raw) {
        const m = JSON.parse(String(raw)) as { type: string; slots?: number; lease?: unknown }
        if (m.type === 'hello') {
          ws.data.free = m.slots ?? 1
          ws.send(JSON.stringify({ type: 'welcome', v: 1, workerId: 'x', heartbeatMs: 5000 }))
        } else if (m.type === 'job.result') {
          ws.send(JSON.stringify({ type: 'job.ack', lease: m.lease }))
          ws.data.free++
        } else return
        fill()
      },
    },
  })
  const url = `127.0.0.1:${server.port}`
  console.log(`listening: API http://${url} (stand-in), workers ws://${url}/ws/worker`)
}

/** The bench's own side's rates against the stand-in, end to end and draining. */
export interface Ceiling {
  e2e: FlowResult
  drain: FlowResult
}

/** Measures the ceiling in `shape` with `users` submitting accounts. */
export async function simCeiling(
  shape: FlowShape,
  users: number,
  log: (line: string) => void,
): Promise<Ceiling> {
  const tmp = mkdtempSync(join(tmpdir(), 'gridx-bench-ceiling-'))
  const c = await startCoordinator([process.execPath, import.meta.path, 'serve'], tmp, undefined, 'stand-in')
  try {
    const acc = await accounts(c.http, users, 1)
    const flow = async (kind: 'e2e' | 'drain') => {
      // eslint-disable-next-line @typescript-eslint/no-unused-vars -- the raw events stay out of the report
      const { fleet, clients, trickle, ...r } = await measureFlow(
        kind,
        'stand-in',
        [c],
        undefined,
        shape,
        acc,
        log,
      )
      const cpu = r.cpuPerJobMs
      log(
        `  bench's own ceiling, ${kind}: ${r.jobsPerSecond.toFixed(0)} jobs/s; CPU per job: workers ${cpu.workers.toFixed(3)} ms, clients ${cpu.clients.toFixed(3)} ms, stand-in ${cpu.coordinators.toFixed(3)} ms`,
      )
      return r
    }
    return { e2e: await flow('e2e'), drain: await flow('drain') }
  } finally {
    await c.proc.stop()
    rmSync(tmp, { recursive: true, force: true })
  }
}

if (import.meta.main && process.argv[2] === 'serve') serve()
else if (import.meta.main) {
  const shape: FlowShape = {
    jobs: envInt('BENCH_DISPATCH_JOBS', 5000, 1),
    clients: envInt('BENCH_DISPATCH_CLIENTS', 32, 1),
    workers: envInt('BENCH_DISPATCH_WORKERS', 4, 1),
    slots: envInt('BENCH_DISPATCH_SLOTS', 8, 1),
  }
  await simCeiling(shape, envInt('BENCH_DISPATCH_USERS', 4, 1), console.log)
}
