import { join } from 'node:path'
import type { GridError } from '../../errors'
import type { ArchiveLimits } from '../../protocol/archive'
import type { BlobChunksRepo } from '../store'
import { DirBlobStore } from './dir'
import { PgBlobStore } from './postgres'

export { checkDigest, tarHeaders } from './intake'

/** A stored archive as the coordinator measured it: SHA-256, size, files and the bytes of their data. */
export interface Blob {
  sha256: string
  /** Size of the archive itself, what it takes in the store. */
  bytes: number
  /** Regular files in it. */
  files: number
  /** Bytes of file data in it (what a job's /out files add up to). */
  dataBytes: number
}

/**
 * Room an upload may take besides the archive limits (its owner's storage quota): checked while
 * it streams, and once its digest is known, before it is kept.
 */
export interface Admission {
  /** Most bytes the upload may take. */
  roomBytes: number
  /** The refusal once the upload has passed `roomBytes` at `bytes`. */
  refuse(bytes: number): GridError
  /** Called with the complete archive, measured, before it is kept; throws to refuse it (nothing is kept). */
  admit(blob: Blob): void | Promise<void>
}

/** One archive in a store, as the sweep sees it: its digest, size and when it was last stored (ms). */
export interface StoredBlob {
  sha256: string
  bytes: number
  storedAt: number
}

/**
 * Where job archives (inputs and /out outputs) are kept, named by their SHA-256 so the same files
 * uploaded twice are stored once. Every coordinator of a grid must see the same store: a
 * directory they all mount, or the grid's PostgreSQL. Both stream each way.
 */
export interface BlobStore {
  /** What the store is, for the start-up banner: a directory path or "PostgreSQL". */
  readonly where: string
  /**
   * Stores a request body that must be a job archive: refused past `maxBytes` (or the
   * `admission`'s room) while it streams, checked to hold only files and directories under safe
   * paths, admitted; only then visible to `has`/`response` on any coordinator. Nothing is kept
   * when a check fails.
   */
  putArchive(
    body: ReadableStream<Uint8Array> | null,
    maxBytes: number,
    limits: ArchiveLimits,
    admission?: Admission,
  ): Promise<Blob>
  /** True when the archive is stored. */
  has(sha256: string): Promise<boolean>
  /** The archive's size in bytes, or undefined when it is not stored. */
  size(sha256: string): Promise<number | undefined>
  /** The archive as a streamed tar response (content type, length, digest header), or undefined. */
  response(sha256: string): Promise<Response | undefined>
  /** Every stored archive, for the sweep. */
  list(): AsyncIterable<StoredBlob>
  /**
   * Removes the archive if it was last stored before `before` (ms, this machine's clock); an
   * archive stored again meanwhile stays. Returns the bytes freed, or undefined when nothing went.
   */
  remove(sha256: string, before: number): Promise<number | undefined>
}

/** Where a coordinator keeps its archives: `--blob-dir`, else the database's, else its data dir. */
export interface BlobOptions {
  dataDir: string
  /** `--blob-dir`: a directory every coordinator of the grid mounts. */
  blobDir?: string | undefined
  /** The PostgreSQL store's chunk repository, when the store is PostgreSQL. */
  chunks?: BlobChunksRepo | undefined
}

/** Builds the coordinator's blob store from its options (see `BlobOptions`). */
export function openBlobs(opts: BlobOptions): BlobStore {
  if (opts.blobDir !== undefined) return new DirBlobStore(opts.blobDir, { shared: true })
  // The archive is checked in a temporary file on this machine before it goes into the database.
  if (opts.chunks) return new PgBlobStore(opts.chunks, join(opts.dataDir, 'blobs', 'tmp'))
  return new DirBlobStore(join(opts.dataDir, 'blobs'), { shared: false })
}

/**
 * Removes stored archives that are not in `keep` and were last stored before `before` (an archive
 * just stored has no database row yet). Safe from any one coordinator, and idempotent: an archive
 * another sweep removed, or one stored again meanwhile, is skipped. Returns what went.
 */
export async function sweepBlobs(
  blobs: BlobStore,
  keep: ReadonlySet<string>,
  before: number,
): Promise<{ removed: number; bytes: number }> {
  let removed = 0
  let bytes = 0
  for await (const b of blobs.list()) {
    if (keep.has(b.sha256) || b.storedAt >= before) continue
    const freed = await blobs.remove(b.sha256, before)
    if (freed === undefined) continue
    removed++
    bytes += freed
  }
  return { removed, bytes }
}
