import { GridError } from '../errors'
import type { UploadView } from '../protocol/api'
import { formatDuration } from '../protocol/units'
import type { BlobStore } from './blobs'
import { archiveCeiling } from './http-limits'
import type { QuotaGrant, StorageQuota } from './quota'
import type { Clock, Settings } from './settings'
import type { JobRow, Store } from './store'

/** What storing and serving a job's files needs: the API's file routes and the dashboard alike. */
export interface JobFilesDeps {
  store: Store
  blobs: BlobStore
  settings: Settings
  clock: Clock
  quota: StorageQuota
}

/** What a user's upload of input files is, in a quota refusal. */
export const UPLOAD = { thing: 'this upload', instead: 'use smaller inputs' }

/**
 * Stores an input archive (the tar the CLI packs) for `userId` within the input limits and their
 * storage quota; a submission then names it by digest.
 */
export async function storeInputs(
  deps: JobFilesDeps,
  userId: string,
  body: ReadableStream<Uint8Array> | null,
  declared: number | undefined,
  reserved?: QuotaGrant,
): Promise<UploadView> {
  const { store, blobs, settings, clock } = deps
  // The dashboard's run form reserves its room before it reads the form (and releases it itself).
  const grant = reserved ?? (await deps.quota.open(userId, declared, UPLOAD))
  try {
    const blob = await blobs.putArchive(
      body,
      archiveCeiling(settings.maxInputBytes, settings.maxArchiveEntries),
      { what: 'the input files', maxBytes: settings.maxInputBytes, maxEntries: settings.maxArchiveEntries },
      grant,
    )
    await store.files.recordUpload(blob.sha256, userId, blob.bytes, blob.files, clock.now())
    return { sha256: blob.sha256, bytes: blob.bytes, files: blob.files }
  } finally {
    if (!reserved) grant.release()
  }
}

/** A job's /out archive as a streamed tar answer, or a 404 saying why there is none. */
export async function outputsArchive(
  deps: Pick<JobFilesDeps, 'blobs' | 'settings' | 'clock'>,
  job: JobRow,
): Promise<Response> {
  const { blobs, settings, clock } = deps
  const tar = job.outputsSha256 ? await blobs.response(job.outputsSha256) : undefined
  if (tar) return tar
  const why =
    job.finishedAt === null
      ? `it has not ended yet (state: ${job.state}); files come back when it ends`
      : !job.outputsSha256
        ? 'it wrote no files under /out'
        : job.finishedAt < clock.now() - settings.keepFilesMs
          ? `they were removed, as the coordinator keeps job files for ${formatDuration(settings.keepFilesMs)} after the job ends (gridx serve --keep-files)`
          : "they are missing from the coordinator's file store: tell its operator"
  throw new GridError('no_outputs', `job ${job.id} has no output files: ${why}`, { status: 404 })
}
