import type { ServerWebSocket } from 'bun'

/**
 * Messages to worker sockets, sent once a turn of the event loop: each socket's messages of
 * the turn go out corked, in one write. A scheduling pass assigns a worker several jobs and a
 * worker's results of a turn are acknowledged together; one write (a syscall that also runs the
 * loopback's TCP) per message was a tenth of the coordinator's CPU in the dispatch bench. Order
 * is kept per socket; a turn is well under a millisecond.
 */
export class Outbox {
  private queued = new Map<ServerWebSocket<unknown>, string[]>()
  private scheduled = false

  /** Sends `text` on `socket` at the end of this turn, after what was queued for it before. */
  send(socket: ServerWebSocket<unknown>, text: string): void {
    const texts = this.queued.get(socket)
    if (texts) texts.push(text)
    else this.queued.set(socket, [text])
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => this.flush())
  }

  /** Sends `text` on `socket` at once, after what was queued for it (an error before a close). */
  now(socket: ServerWebSocket<unknown>, text: string): void {
    this.drain(socket)
    socket.send(text)
  }

  /** Closes `socket` after sending what was queued for it, so nothing queued is lost. */
  close(socket: ServerWebSocket<unknown>, code: number, reason: string): void {
    this.drain(socket)
    socket.close(code, reason)
  }

  private drain(socket: ServerWebSocket<unknown>): void {
    const texts = this.queued.get(socket)
    if (!texts) return
    this.queued.delete(socket)
    write(socket, texts)
  }

  /** Sends everything queued now. */
  flush(): void {
    this.scheduled = false
    const queued = this.queued
    if (queued.size === 0) return
    this.queued = new Map()
    for (const [socket, texts] of queued) write(socket, texts)
  }
}

/** One socket's messages in one write. A socket closed meanwhile takes nothing: its leases come back by its silence, as ever. */
function write(socket: ServerWebSocket<unknown>, texts: readonly string[]): void {
  if (texts.length === 1) socket.send(texts[0]!)
  else socket.cork(() => texts.forEach((t) => socket.send(t)))
}
