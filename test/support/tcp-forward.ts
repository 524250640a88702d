/**
 * A TCP forwarder to run as its own process (`bun test/support/tcp-forward.ts PORT`): it listens
 * on a free loopback port, prints `listening PORT`, and passes every connection through to
 * 127.0.0.1:PORT. Killing it (SIGKILL) cuts every connection through it at once, as a
 * coordinator's machine that dies would: the failover tests put it in front of a coordinator.
 */
import type { Socket } from 'bun'

/** Each end: its peer, what waits to be written to it, and (client side) what came before the peer connected. */
type Side = { peer: Socket<Side> | undefined; pending: Buffer[]; early: Buffer[] }

const target = Number(process.argv[2])
if (!Number.isInteger(target) || target < 1) throw new Error('usage: tcp-forward.ts TARGET_PORT')

/** Writes what the socket takes now and keeps the rest for its drain. */
function pass(to: Socket<Side>, data: Buffer): void {
  if (to.data.pending.length) return void to.data.pending.push(data)
  const n = to.write(data)
  if (n < data.length) to.data.pending.push(data.subarray(n))
}

function drain(s: Socket<Side>): void {
  while (s.data.pending.length) {
    const next = s.data.pending[0]!
    const n = s.write(next)
    if (n < next.length) {
      s.data.pending[0] = next.subarray(n)
      return
    }
    s.data.pending.shift()
  }
}

const server = Bun.listen<Side>({
  hostname: '127.0.0.1',
  port: 0,
  socket: {
    async open(client) {
      client.data = { peer: undefined, pending: [], early: [] }
      const upstream = await Bun.connect<Side>({
        hostname: '127.0.0.1',
        port: target,
        socket: {
          open(u) {
            u.data = { peer: client, pending: [], early: [] }
          },
          data(u, chunk) {
            pass(u.data.peer!, Buffer.from(chunk))
          },
          drain,
          close(u) {
            u.data.peer?.end()
          },
          error(u) {
            u.data.peer?.end()
          },
        },
      }).catch(() => undefined)
      if (!upstream) return void client.end()
      client.data.peer = upstream
      // What the client sent before the upstream connection opened goes first.
      for (const b of client.data.early.splice(0)) pass(upstream, b)
    },
    data(client, chunk) {
      const up = client.data.peer
      if (!up) return void client.data.early.push(Buffer.from(chunk))
      pass(up, Buffer.from(chunk))
    },
    drain,
    close(client) {
      client.data.peer?.end()
    },
    error(client) {
      client.data.peer?.end()
    },
  },
})
process.stdout.write(`listening ${server.port}\n`)
