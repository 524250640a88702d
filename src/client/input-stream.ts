// A submission's input archive, streamed: the tar is packed while it is sent, each file read from
// disk in small chunks, so uploading 200 MB needs no more memory than uploading 2 MB. (The
// coordinator digests the archive as it stores it: no first pass over the files is needed.)
import { createReadStream } from 'node:fs'
import { GridError } from '../errors'
import { modeOf } from '../protocol/archive'
import type { Pack as TarPack } from 'tar-stream'
import type { InputEntry } from './files'

/** Bytes read from disk per chunk. */
const CHUNK = 64 * 1024

/** Bytes of file data in `entries`: what a progress line counts up to. */
export function inputBytes(entries: readonly InputEntry[]): number {
  return entries.reduce((n, e) => n + e.size, 0)
}

/**
 * The tar of `entries` as a stream, packed as it is read; `onBytes` hears of each chunk of file
 * data as it goes out. A file that changed size since it was listed fails the stream, saying so.
 */
export function packInputs(
  entries: readonly InputEntry[],
  onBytes?: (n: number) => void,
  fail?: (err: unknown) => void,
): ReadableStream<Uint8Array> {
  let chunks: AsyncIterator<Uint8Array> | undefined
  return new ReadableStream<Uint8Array>(
    {
      async pull(ctl) {
        chunks ??= (await pack(entries, onBytes, fail))[Symbol.asyncIterator]()
        const next = await chunks.next()
        if (next.done) ctl.close()
        else ctl.enqueue(next.value)
      },
      async cancel() {
        await chunks?.return?.()
      },
    },
    // One chunk ahead: the file is read only as fast as the network takes it.
    { highWaterMark: 1 },
  )
}

async function pack(
  entries: readonly InputEntry[],
  onBytes: ((n: number) => void) | undefined,
  fail: ((err: unknown) => void) | undefined,
): Promise<AsyncIterable<Uint8Array>> {
  const pack = (await import('tar-stream')).default.pack()
  const mtime = new Date()
  const fill = async () => {
    for (const e of entries) {
      const header = {
        name: e.path,
        type: e.type === 'dir' ? ('directory' as const) : ('file' as const),
        mode: modeOf(e.type, e.mode),
        uid: 0,
        gid: 0,
        mtime,
        size: e.type === 'dir' ? 0 : e.size,
      }
      if (e.type === 'dir' || !e.source) {
        await new Promise<void>((ok, fail) => pack.entry(header, (err) => (err ? fail(err) : ok())))
        continue
      }
      await sendFile(pack, header, e, onBytes)
    }
    pack.finalize()
  }
  fill().catch((err: unknown) => {
    fail?.(err)
    pack.destroy(err instanceof Error ? err : new Error(String(err)))
  })
  return pack as AsyncIterable<Uint8Array>
}

type Pack = TarPack

/** Streams one file into the archive, waiting whenever the archive's reader is behind. */
async function sendFile(
  pack: Pack,
  header: Parameters<Pack['entry']>[0],
  e: InputEntry,
  onBytes: ((n: number) => void) | undefined,
): Promise<void> {
  let sent = 0
  const done = new Promise<void>((ok, fail) => {
    const sink = pack.entry(header, (err) => (err ? fail(changed(e, sent, err)) : ok()))
    // A sink that ends short or is torn down says so as an event: the cause is named above it.
    sink.on('error', (err) => fail(changed(e, sent, err)))
    const source = createReadStream(e.source!, { highWaterMark: CHUNK })
    source.on('error', (err) =>
      fail(new GridError('no_input', `cannot read input '${e.source}': ${err.message}`)),
    )
    source.on('data', (chunk) => {
      const data = chunk as Buffer
      sent += data.length
      if (sent > e.size) {
        source.destroy()
        fail(changed(e, sent))
        return
      }
      onBytes?.(data.length)
      if (!sink.write(data)) {
        source.pause()
        sink.once('drain', () => source.resume())
      }
    })
    source.on('end', () => sink.end(Buffer.alloc(0)))
  })
  await done
}

function changed(e: InputEntry, sent: number, cause?: unknown): GridError {
  return new GridError(
    'input_changed',
    `input '${e.source}' changed while it was being sent (${e.size} bytes when listed, ${sent === e.size ? 'other' : sent} bytes read): submit again once it stops changing`,
    { cause },
  )
}
