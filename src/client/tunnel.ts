import { connect as tcpConnect, type Socket } from 'node:net'
import type { ProxyUrl } from './proxy'
import { classifySocketError, type Failure } from './socket-failure'

/** A CONNECT tunnel through a proxy: open (the socket now reaches the target), or the proxy's answer, or a failure to reach the proxy. */
export type Tunnel =
  { kind: 'tunnel'; socket: Socket } | { kind: 'answer'; status: number; text: string } | Failure

function basicAuth(proxy: ProxyUrl): string[] {
  const u = new URL(proxy.href)
  if (!u.username) return []
  const pair = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`
  return [`Proxy-Authorization: Basic ${Buffer.from(pair).toString('base64')}`]
}

/** Opens a CONNECT tunnel to host:port through an http proxy, as Bun's fetch and WebSocket do. */
export function openTunnel(proxy: ProxyUrl, host: string, port: number, timeoutMs: number): Promise<Tunnel> {
  return new Promise((resolve) => {
    let done = false
    const s = tcpConnect({ host: proxy.host, port: proxy.port })
    const settle = (t: Tunnel) => {
      if (done) return
      done = true
      clearTimeout(timer)
      if (t.kind !== 'tunnel') s.destroy()
      else s.removeAllListeners('data')
      resolve(t)
    }
    const timer = setTimeout(
      () => settle({ kind: 'timeout', code: 'ETIMEDOUT', message: `no answer within ${timeoutMs} ms` }),
      timeoutMs,
    )
    const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
    s.on('connect', () =>
      s.write([`CONNECT ${target} HTTP/1.1`, `Host: ${target}`, ...basicAuth(proxy), '', ''].join('\r\n')),
    )
    s.on('error', (err) => settle(classifySocketError(err)))
    let head = ''
    s.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1')
      if (!head.includes('\r\n\r\n') && head.length < 16 * 1024) return
      const m = /^HTTP\/\d(?:\.\d)? (\d{3}) ?([^\r\n]*)/.exec(head)
      if (!m) return settle({ kind: 'other', code: 'not_http', message: 'the proxy did not answer in HTTP' })
      const status = Number(m[1])
      if (status >= 200 && status < 300) return settle({ kind: 'tunnel', socket: s })
      settle({ kind: 'answer', status, text: (m[2] ?? '').slice(0, 100) })
    })
    s.on('end', () =>
      settle({ kind: 'reset', code: 'ConnectionClosed', message: 'the proxy closed the connection' }),
    )
  })
}
