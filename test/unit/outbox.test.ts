import { afterEach, expect, test } from 'bun:test'
import type { ServerWebSocket } from 'bun'
import { Outbox } from '../../src/coordinator/outbox'

// Messages to a worker socket go out once a turn, corked: on a real WebSocket, in the order
// asked, each its own frame, and what was queued before a close is sent before it.

let server: ReturnType<typeof Bun.serve> | undefined
afterEach(() => server?.stop(true))

/** A server whose socket the test drives, and a client that records what it receives. */
async function pair() {
  let socket: ServerWebSocket<unknown> | undefined
  const opened = Promise.withResolvers<void>()
  server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: (req, srv) =>
      srv.upgrade(req, { data: undefined }) ? undefined : new Response('no', { status: 400 }),
    websocket: {
      open: (ws) => {
        socket = ws
        opened.resolve()
      },
      message: () => undefined,
    },
  })
  const got: string[] = []
  const closed = Promise.withResolvers<number>()
  const client = new WebSocket(`ws://127.0.0.1:${server.port}/`)
  client.onmessage = (e) => got.push(String(e.data))
  client.onclose = (e) => closed.resolve(e.code)
  await opened.promise
  return { socket: socket!, got, closed: closed.promise }
}

test("one turn's messages arrive in order, each a frame of its own, and the next turn's after them", async () => {
  const { socket, got } = await pair()
  const outbox = new Outbox()
  for (const t of ['a', 'b', 'c']) outbox.send(socket, t)
  for (let i = 0; i < 50 && got.length < 3; i++) await Bun.sleep(10)
  expect(got).toEqual(['a', 'b', 'c'])
  outbox.send(socket, 'd')
  for (let i = 0; i < 50 && got.length < 4; i++) await Bun.sleep(10)
  expect(got).toEqual(['a', 'b', 'c', 'd'])
})

test('a close, or a message sent at once, goes after what was queued for the socket, so nothing queued is lost', async () => {
  const { socket, got, closed } = await pair()
  const outbox = new Outbox()
  outbox.send(socket, 'queued 1')
  outbox.send(socket, 'queued 2')
  outbox.now(socket, 'error')
  outbox.send(socket, 'last words')
  outbox.close(socket, 4000, 'bye')
  expect(await closed).toBe(4000)
  expect(got).toEqual(['queued 1', 'queued 2', 'error', 'last words'])
  // A socket closed meanwhile takes nothing, and nothing throws.
  outbox.send(socket, 'too late')
  outbox.flush()
})
