import { GridError } from '../errors'
import { cleanPath, pathTooLong } from '../protocol/archive'

const bad = (message: string) => new GridError('bad_request', message, { status: 400 })

/** The run form's input files by their path in the job's directory: refused when a name is unusable or given twice. */
export function inputPaths(files: readonly File[]): { path: string; file: File }[] {
  const seen = new Map<string, string>()
  return files.map((f) => {
    const path = cleanPath(f.name)
    const long = path && pathTooLong(path)
    if (!path || long)
      throw bad(`input file '${f.name}' cannot be sent: ${long || 'its name is not a plain file name'}`)
    const first = seen.get(path)
    if (first !== undefined)
      throw bad(
        `two input files are both named '${path}': the job's folder can hold only one; rename one of them and choose them again`,
      )
    seen.set(path, f.name)
    return { path, file: f }
  })
}

/**
 * A tar archive of the form's files (each at the top of the job's directory, as the CLI packs them),
 * streamed: every file is read in chunks as the archive is pulled, so no copy of a file or of the
 * whole archive is made (the blob store's intake hashes and checks it as it arrives).
 */
export function packFiles(files: readonly { path: string; file: File }[]): ReadableStream<Uint8Array> {
  let out: AsyncIterator<Buffer> | undefined
  let destroy: ((err: Error) => void) | undefined
  const start = async () => {
    const pack = (await import('tar-stream')).default.pack()
    destroy = (err) => pack.destroy(err)
    const mtime = new Date()
    // The producer: one entry at a time, waiting when the reader has not taken what it was given.
    void (async () => {
      for (const { path, file } of files) {
        let done: (err?: Error | null) => void = () => undefined
        const finished = new Promise<void>((resolve, reject) => {
          done = (err) => (err ? reject(err) : resolve())
        })
        const header = {
          name: path,
          type: 'file' as const,
          mode: 0o644,
          uid: 0,
          gid: 0,
          mtime,
          size: file.size,
        }
        const entry = pack.entry(header, (err) => done(err))
        for await (const chunk of file.stream()) {
          if (!entry.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)))
            await new Promise<void>((resolve) => entry.once('drain', () => resolve()))
        }
        entry.end(Buffer.alloc(0))
        await finished
      }
      pack.finalize()
    })().catch((err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))))
    return pack[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  }
  return new ReadableStream<Uint8Array>({
    pull: async (ctl) => {
      out ??= await start()
      const next = await out.next()
      if (next.done) ctl.close()
      else ctl.enqueue(new Uint8Array(next.value.buffer, next.value.byteOffset, next.value.byteLength))
    },
    cancel: (reason) => destroy?.(reason instanceof Error ? reason : new Error('the upload was cancelled')),
  })
}
