import { createHash, randomUUID } from 'node:crypto'
import { createWriteStream, rmSync } from 'node:fs'
import { join } from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { describe, GridError } from '../../errors'
import { type ArchiveLimits, readArchive } from '../../protocol/archive'
import { formatBytes } from '../../protocol/units'
import { PRIVATE_FILE_MODE } from '../data-dir'
import { isDiskFull } from '../disk'
import type { Admission, Blob } from './index'

/** Checks that a name is a SHA-256 digest (hex), so it can name a file or a row safely. */
export function checkDigest(sha256: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new GridError('bad_digest', `'${sha256}' is not a SHA-256 digest`)
  return sha256
}

/**
 * The headers of a stored archive served as a response body. The length only for a file: Bun
 * sends a body pulled from the database chunked whatever Content-Length says (a cut-off transfer
 * then ends without its last chunk, so the client sees an error, never a short archive).
 */
export function tarHeaders(sha256: string, bytes?: number): Record<string, string> {
  return {
    'content-type': 'application/x-tar',
    ...(bytes === undefined ? {} : { 'content-length': String(bytes) }),
    'x-gridx-sha256': sha256,
  }
}

/**
 * Receives a request body that must be a job archive into a temporary file in `tmpDir`: streamed
 * while hashing, refused past `maxBytes` (or the `admission`'s room), checked to hold only files
 * and directories under safe paths, admitted; then `keep` stores it (renames or copies the file)
 * and the temporary file is removed whatever happened. Every store checks an archive this way,
 * on this machine's disk, so a slow upload holds no database connection and nothing unchecked is
 * ever visible. A full disk is thrown as it is (see disk.ts).
 */
export async function receiveArchive(
  tmpDir: string,
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
  limits: ArchiveLimits,
  admission: Admission | undefined,
  keep: (blob: Blob, tmp: string) => void | Promise<void>,
): Promise<Blob> {
  if (!body) throw new GridError('empty_body', `${limits.what}: the request has no body (send a tar archive)`)
  const tmp = join(tmpDir, randomUUID())
  const hash = createHash('sha256')
  let bytes = 0
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length
      if (bytes > maxBytes) {
        const msg = `${limits.what} are larger than ${formatBytes(maxBytes)}, the most this coordinator accepts`
        return done(new GridError('archive_too_big', msg, { status: 413 }))
      }
      if (admission && bytes > admission.roomBytes) return done(admission.refuse(bytes))
      hash.update(chunk)
      done(null, chunk)
    },
  })
  try {
    // pipeline closes every stream on any failure: a dropped upload or a full disk leaks nothing.
    const file = createWriteStream(tmp, { mode: PRIVATE_FILE_MODE })
    await pipeline(Readable.fromWeb(body), meter, file).catch((err: unknown) => {
      if (err instanceof GridError || isDiskFull(err)) throw err
      throw new GridError('store_failed', `could not store ${limits.what}: ${describe(err)}`, {
        status: 507,
      })
    })
    const contents = await readArchive(Bun.file(tmp).stream(), { ...limits, listOnly: true })
    if (contents.skipped.length > 0) {
      const list = contents.skipped
        .slice(0, 5)
        .map((s) => `${s.path} (${s.reason})`)
        .join(', ')
      throw new GridError(
        'unsafe_archive',
        `${limits.what} hold entries that are not plain files under safe paths: ${list}`,
        { status: 400 },
      )
    }
    const files = contents.entries.filter((e) => e.type === 'file').length
    const blob = { sha256: hash.digest('hex'), bytes, files, dataBytes: contents.bytes }
    await admission?.admit(blob)
    await keep(blob, tmp)
    return blob
  } finally {
    rmSync(tmp, { force: true })
  }
}
