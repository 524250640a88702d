import { connect, type Socket } from 'node:net'

/** A raw TCP connection to a coordinator: what it received, and when the server closed it. */
export interface RawConn {
  socket: Socket
  /** Everything the server sent so far. */
  received: () => string
  /** Resolves with the milliseconds from connect to close. */
  closed: Promise<number>
  isClosed: () => boolean
  /** Writes, ignoring a connection the server has already closed. */
  write: (data: string | Uint8Array) => void
  /** Writes one byte every `everyMs` until the connection closes. */
  trickle: (everyMs: number, byte?: string) => void
}

/** Opens a raw connection to 127.0.0.1:port and sends `head`. */
export function rawConnect(port: number, head = ''): Promise<RawConn> {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    let text = ''
    let done = false
    let timer: ReturnType<typeof setInterval> | undefined
    const socket = connect(port, '127.0.0.1')
    const closed = new Promise<number>((res) =>
      socket.on('close', () => {
        done = true
        clearInterval(timer)
        res(Date.now() - started)
      }),
    )
    socket.on('data', (d) => (text += d.toString('latin1')))
    // A reset by the server after its answer is a close like any other here.
    socket.on('error', () => undefined)
    const write = (data: string | Uint8Array) => {
      if (!done && !socket.destroyed) socket.write(data)
    }
    socket.once('connect', () => {
      if (head) socket.write(head)
      resolve({
        socket,
        received: () => text,
        closed,
        isClosed: () => done,
        write,
        trickle: (everyMs, byte = 'a') => {
          timer = setInterval(() => write(byte), everyMs)
        },
      })
    })
    socket.once('error', reject)
  })
}

/** The status and JSON body of the first HTTP answer in `raw`, if complete. */
export function parseAnswer(raw: string): {
  status: number
  headers: Record<string, string>
  body: unknown
} {
  const end = raw.indexOf('\r\n\r\n')
  if (end < 0) throw new Error(`no complete answer in ${JSON.stringify(raw.slice(0, 200))}`)
  const [statusLine, ...lines] = raw.slice(0, end).split('\r\n')
  const headers: Record<string, string> = {}
  for (const l of lines) {
    const i = l.indexOf(':')
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim()
  }
  const rest = raw.slice(end + 4)
  const length = Number(headers['content-length'] ?? rest.length)
  const text = rest.slice(0, length)
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // not JSON: the test says what it expected
  }
  return { status: Number(statusLine?.split(' ')[1]), headers, body }
}

/** Milliseconds one GET /health takes; throws when it does not answer 200. */
export async function healthLatency(base: string): Promise<number> {
  const t0 = performance.now()
  const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(10_000) })
  await res.arrayBuffer()
  if (res.status !== 200) throw new Error(`/health answered ${res.status}`)
  return performance.now() - t0
}
