/** A server-sent event stream read by a test: each event's data parsed as JSON, in order. */
export interface SseReader {
  /** The next event whose data satisfies `match`, waiting up to `ms`. */
  next<T = Record<string, unknown>>(match?: (data: T) => boolean, ms?: number): Promise<T>
  /** Comments (keepalives) seen so far. */
  comments: number
  close(): void
}

/** Opens an event stream at `url` with `headers` (a session cookie); throws unless it answers 200. */
export async function openSse(url: string, headers: Record<string, string>): Promise<SseReader> {
  const abort = new AbortController()
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal })
  if (res.status !== 200 || !res.body)
    throw new Error(`event stream ${url}: ${res.status} ${await res.text()}`)
  const events: unknown[] = []
  const reader: SseReader = {
    comments: 0,
    async next<T>(match: (data: T) => boolean = () => true, ms = 15_000): Promise<T> {
      const deadline = Date.now() + ms
      for (;;) {
        const i = events.findIndex((e) => match(e as T))
        if (i >= 0) return events.splice(0, i + 1).at(-1) as T
        if (Date.now() > deadline) throw new Error(`no matching event within ${ms} ms`)
        await Bun.sleep(20)
      }
    },
    close: () => abort.abort(),
  }
  void (async () => {
    const decoder = new TextDecoder()
    let buf = ''
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true })
        let end
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end)
          buf = buf.slice(end + 2)
          if (block.startsWith(':')) reader.comments++
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).trimStart())
            .join('\n')
          if (data) events.push(JSON.parse(data))
        }
      }
    } catch {
      // Closed by the test.
    }
  })()
  return reader
}
