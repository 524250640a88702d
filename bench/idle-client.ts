// One process of simulated idle workers for bench/idle-workers.ts: real WebSocket clients that say
// hello, then beat (a heartbeat and a ping, as the real agent does) at the interval the coordinator
// tells them, in the welcome and in later `heartbeat.interval` messages, and run nothing. They live
// in their own process so their CPU is not the coordinator's. Environment: IDLE_URL, IDLE_TOKEN,
// IDLE_COUNT, IDLE_PREFIX. Prints one JSON status line a second on stdout; stops on SIGTERM.
import { randomBytes } from 'node:crypto'

/** Sockets opening at once: a burst of thousands of upgrades would only queue in the kernel. */
const OPENING = 64

const url = process.env['IDLE_URL'] ?? ''
const token = process.env['IDLE_TOKEN'] ?? ''
const count = Number(process.env['IDLE_COUNT'] ?? '0')
const prefix = process.env['IDLE_PREFIX'] ?? 'idle'

/** One simulated worker's socket and beat. */
interface Sim {
  ws: WebSocket
  beat: ReturnType<typeof setTimeout> | undefined
  everyMs: number
  welcomed: boolean
}

const sims: Sim[] = []
const counts = { welcomed: 0, closed: 0, cancels: 0, errors: 0, intervalMessages: 0, beats: 0 }

/** Beats every `ms` from now, the first one at a random point of the first period (no lockstep). */
function beatEvery(sim: Sim, ms: number): void {
  clearTimeout(sim.beat)
  sim.everyMs = ms
  const beat = () => {
    if (sim.ws.readyState !== WebSocket.OPEN) return
    counts.beats++
    sim.ws.send('{"type":"heartbeat","running":[]}')
    sim.ws.ping()
    sim.beat = setTimeout(beat, sim.everyMs)
  }
  sim.beat = setTimeout(beat, Math.round(Math.random() * ms))
}

function open(i: number): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } })
    const sim: Sim = { ws, beat: undefined, everyMs: 0, welcomed: false }
    sims.push(sim)
    ws.onopen = () =>
      ws.send(
        JSON.stringify({
          type: 'hello',
          v: 2,
          workerId: `${prefix}-${i}-${randomBytes(4).toString('hex')}`,
          name: `${prefix}-${i}`,
          version: 'bench',
          slots: 1,
          cpus: 1,
          memoryBytes: 1024 ** 3,
          docker: 'none (simulated)',
          // Pinned to the worker id; an idle worker signs nothing, so any key-shaped value does.
          publicKey: randomBytes(32).toString('base64'),
          running: [],
          policy: { maxTimeoutMs: null, images: ['*'], workdirBytes: null },
          heartbeatUpdates: true,
        }),
      )
    ws.onmessage = (e) => {
      const msg = JSON.parse(String(e.data)) as { type: string; heartbeatMs?: number }
      if (msg.type === 'welcome') {
        sim.welcomed = true
        counts.welcomed++
        beatEvery(sim, msg.heartbeatMs!)
        resolve()
      } else if (msg.type === 'heartbeat.interval') {
        counts.intervalMessages++
        beatEvery(sim, msg.heartbeatMs!)
      } else if (msg.type === 'job.cancel') counts.cancels++
      else if (msg.type === 'error') counts.errors++
    }
    ws.onclose = () => {
      clearTimeout(sim.beat)
      counts.closed++
      resolve()
    }
  })
}

function status(): void {
  let min = Infinity
  let max = 0
  for (const s of sims) {
    if (!s.welcomed) continue
    min = Math.min(min, s.everyMs)
    max = Math.max(max, s.everyMs)
  }
  const open = sims.filter((s) => s.ws.readyState === WebSocket.OPEN).length
  const everyMs = { min: Number.isFinite(min) ? min : 0, max }
  console.log(JSON.stringify({ event: 'status', open, ...counts, everyMs }))
}

setInterval(status, 1000)
process.on('SIGTERM', () => {
  for (const s of sims) {
    clearTimeout(s.beat)
    s.ws.close()
  }
  process.exit(0)
})
let next = 0
await Promise.all(
  Array.from({ length: OPENING }, async () => {
    while (next < count) await open(next++)
  }),
)
status()
