import { randomUUID } from 'node:crypto'
import { readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { readdir, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { ArchiveLimits } from '../../protocol/archive'
import { privateDir } from '../data-dir'
import type { Admission, Blob, BlobStore, StoredBlob } from './index'
import { checkDigest, receiveArchive, tarHeaders } from './intake'

/**
 * A temporary file not written to for this long belongs to an upload that died (its coordinator
 * crashed or was killed); only then may a coordinator sharing the directory remove it.
 */
const STALE_TMP_MS = 3_600_000

/**
 * Archives as files named by their digest in one directory: the coordinator's own
 * (DATA_DIR/blobs), or one every coordinator of a grid mounts (`--blob-dir`, e.g. NFS). Files are
 * only ever renamed into place whole, so a reader on any machine sees a complete archive or none.
 */
export class DirBlobStore implements BlobStore {
  readonly where: string
  private readonly tmp: string

  /** `shared`: other coordinators use the directory too, so only stale temporary files are theirs to remove. */
  constructor(
    private readonly dir: string,
    private readonly opts: { shared: boolean },
  ) {
    this.where = dir
    this.tmp = join(dir, 'tmp')
    privateDir(dir)
    privateDir(this.tmp)
    // Uploads cut short by a crash leave their temporary files here. The folder itself stays: making
    // it again may not fit on a full disk, and a coordinator must start on one.
    const cutoff = Date.now() - STALE_TMP_MS
    for (const name of readdirSync(this.tmp)) {
      const path = join(this.tmp, name)
      if (opts.shared && (statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? 0) >= cutoff) continue
      rmSync(path, { recursive: true, force: true })
    }
  }

  private path(sha256: string): string {
    return join(this.dir, checkDigest(sha256))
  }

  async putArchive(
    body: ReadableStream<Uint8Array> | null,
    maxBytes: number,
    limits: ArchiveLimits,
    admission?: Admission,
  ): Promise<Blob> {
    return await receiveArchive(this.tmp, body, maxBytes, limits, admission, (blob, tmp) => {
      // A new file with a new time: a sweep that listed the old one leaves this one alone.
      renameSync(tmp, this.path(blob.sha256))
    })
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.size(sha256)) !== undefined
  }

  async size(sha256: string): Promise<number | undefined> {
    const st = await stat(this.path(sha256)).catch(() => undefined)
    return st?.isFile() ? st.size : undefined
  }

  async response(sha256: string): Promise<Response | undefined> {
    const bytes = await this.size(sha256)
    if (bytes === undefined) return undefined
    return new Response(Bun.file(this.path(sha256)), { headers: tarHeaders(sha256, bytes) })
  }

  async *list(): AsyncIterable<StoredBlob> {
    // Asynchronous, file by file: a first sweep over many archives must not stall the API.
    for (const name of await readdir(this.dir)) {
      if (!/^[0-9a-f]{64}$/.test(name)) continue
      const st = await stat(join(this.dir, name)).catch(() => undefined)
      if (st?.isFile()) yield { sha256: name, bytes: st.size, storedAt: st.mtimeMs }
    }
    if (this.opts.shared) await this.dropStaleTmp()
  }

  async remove(sha256: string, before: number): Promise<number | undefined> {
    // Moved aside first (atomic), then looked at: an archive stored again between the sweep's
    // look and the removal is a new file with a new time, and goes back instead of going away.
    const path = this.path(sha256)
    const aside = join(this.tmp, `gone-${sha256}-${randomUUID()}`)
    if (
      !(await rename(path, aside).then(
        () => true,
        () => false,
      ))
    )
      return undefined
    const st = await stat(aside).catch(() => undefined)
    if (st && st.mtimeMs >= before) {
      await rename(aside, path)
      return undefined
    }
    await rm(aside, { force: true })
    return st?.size ?? 0
  }

  /** Removes temporary files of uploads that died on any coordinator sharing the directory. */
  private async dropStaleTmp(): Promise<void> {
    const cutoff = Date.now() - STALE_TMP_MS
    for (const name of await readdir(this.tmp).catch(() => [])) {
      const path = join(this.tmp, name)
      const st = await stat(path).catch(() => undefined)
      if (st && st.mtimeMs < cutoff) await rm(path, { recursive: true, force: true })
    }
  }
}
