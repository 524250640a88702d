import { readdirSync, rmSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, GridError } from '../../errors'
import type { ArchiveLimits } from '../../protocol/archive'
import { privateDir } from '../data-dir'
import type { BlobChunksRepo } from '../store'
import type { Admission, Blob, BlobStore, StoredBlob } from './index'
import { checkDigest, receiveArchive, tarHeaders } from './intake'

/** Bytes per chunk row: large enough that a 512 MiB archive is some 2000 rows, small enough to stream. */
export const CHUNK_BYTES = 256 * 1024
/** Chunks fetched per query while an archive is served (1 MiB): fewer round trips, memory still small. */
const CHUNKS_PER_READ = 4

/**
 * Archives in the grid's PostgreSQL, in chunks, so every coordinator serves the same ones.
 *
 * An upload is received and checked in a temporary file on this machine first (as the directory
 * store does), then copied into chunks in one transaction with the archive's row last. The
 * alternative, chunks written as the request arrives under a pending id, would hold a database
 * connection (of a pool of ten) for as long as the slowest client takes to send, leave pending
 * rows behind every crash, and could not check the tar before the bytes were in the database.
 * The copy from a local file takes a connection for seconds, and a failure rolls back whole.
 */
export class PgBlobStore implements BlobStore {
  readonly where = 'PostgreSQL'

  constructor(
    private readonly chunks: BlobChunksRepo,
    private readonly tmp: string,
  ) {
    privateDir(tmp)
    // Temporary files are this coordinator's own (its data dir): any left here died with it.
    for (const name of readdirSync(tmp)) rmSync(join(tmp, name), { recursive: true, force: true })
  }

  async putArchive(
    body: ReadableStream<Uint8Array> | null,
    maxBytes: number,
    limits: ArchiveLimits,
    admission?: Admission,
  ): Promise<Blob> {
    return await receiveArchive(this.tmp, body, maxBytes, limits, admission, async (blob, tmp) => {
      try {
        await this.chunks.write({ ...blob, chunks: 0, storedAt: Date.now() }, fileChunks(tmp))
      } catch (err) {
        if (err instanceof GridError) throw err
        throw new GridError(
          'store_failed',
          `could not store ${limits.what} in the database: ${describe(err)}`,
          { status: 503, retryable: true, cause: err },
        )
      }
    })
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.size(sha256)) !== undefined
  }

  async size(sha256: string): Promise<number | undefined> {
    return (await this.chunks.get(checkDigest(sha256)))?.bytes
  }

  async response(sha256: string): Promise<Response | undefined> {
    const row = await this.chunks.get(checkDigest(sha256))
    if (!row) return undefined
    let next = 0
    // Pulled as the client reads: a slow download holds one page of chunks, not the archive.
    const body = new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          const count = Math.min(CHUNKS_PER_READ, row.chunks - next)
          if (count <= 0) return controller.close()
          const page = await this.chunks.read(sha256, next, count)
          // Removed by a sweep while it was read: a short body would look like a whole archive.
          if (page.length < count) {
            controller.error(new Error(`archive ${sha256} was removed while it was sent`))
            return
          }
          next += count
          for (const data of page) controller.enqueue(data)
        },
      },
      { highWaterMark: 0 },
    )
    return new Response(body, { headers: tarHeaders(sha256) })
  }

  async *list(): AsyncIterable<StoredBlob> {
    yield* await this.chunks.list()
  }

  async remove(sha256: string, before: number): Promise<number | undefined> {
    return await this.chunks.remove(checkDigest(sha256), before)
  }
}

/** A file's bytes in `CHUNK_BYTES` pieces, read one at a time. */
export async function* fileChunks(path: string): AsyncIterable<Uint8Array> {
  const file = await open(path, 'r')
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(CHUNK_BYTES)
      let filled = 0
      while (filled < CHUNK_BYTES) {
        const { bytesRead } = await file.read(buf, filled, CHUNK_BYTES - filled)
        if (bytesRead === 0) break
        filled += bytesRead
      }
      if (filled === 0) return
      yield buf.subarray(0, filled)
      if (filled < CHUNK_BYTES) return
    }
  } finally {
    await file.close()
  }
}
