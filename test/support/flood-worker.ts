// A hostile worker in its own process: says hello, then sends heartbeats as fast as it can for
// up to FLOOD_MS, and prints one JSON line: how many it sent, for how long, and how its socket
// closed. Run by test/integration/worker-abuse.test.ts, so the flood does not share the event
// loop of the coordinator it floods.
import { hello } from './coordinator'
import { testWorker } from './worker-keys'

const [port, token, id, floodMs] = [
  process.env.FLOOD_PORT,
  process.env.FLOOD_TOKEN,
  process.env.FLOOD_WORKER ?? 'worker-flood',
  Number(process.env.FLOOD_MS ?? 5000),
]
const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/worker`, {
  headers: { authorization: `Bearer ${token}` },
})
let sent = 0
let began = 0
let welcomed = false
const frame = JSON.stringify({ type: 'heartbeat', running: [] })
ws.onmessage = (e) => {
  if (welcomed || !String(e.data).includes('"welcome"')) return
  welcomed = true
  began = performance.now()
  const burst = () => {
    if (ws.readyState !== WebSocket.OPEN || performance.now() - began > floodMs) return
    for (let i = 0; i < 5000; i++) ws.send(frame)
    sent += 5000
    setImmediate(burst)
  }
  burst()
}
ws.onopen = () => ws.send(JSON.stringify(hello(testWorker(id))))
ws.onclose = (e) => {
  const ms = performance.now() - began
  console.log(JSON.stringify({ sent, ms, code: e.code, reason: e.reason }))
  process.exit(0)
}
setTimeout(() => ws.close(), floodMs + 5000)
