import { Hono } from 'hono'
import { assertNever, GridError } from '../errors'
import { LeaseRef } from '../protocol/worker'
import type { Blob, BlobStore } from './blobs'
import { archiveCeiling, declaredBody } from './http-limits'
import { outputsArchive, storeInputs } from './job-files'
import type { Lifecycle } from './lifecycle'
import { StorageQuota } from './quota'
import type { Clock, Settings } from './settings'
import type { Store, UserRow } from './store'
import { UploadDeadline } from './upload-deadline'

/** What the file routes need. */
export interface FileDeps {
  store: Store
  blobs: BlobStore
  lifecycle: Lifecycle
  settings: Settings
  clock: Clock
  /** The users' storage quota, shared with the dashboard's run form (one is made when not given). */
  quota?: StorageQuota | undefined
}

type Env = { Variables: { user: UserRow } }

const OUTPUTS = { thing: "the job's /out files", instead: 'have the job write less under /out' }

/**
 * Job files over HTTP: users upload input archives and download their jobs' /out archives;
 * workers fetch a job's inputs and upload its outputs under the lease they hold.
 */
export function fileRoutes({ store, blobs, lifecycle, settings, clock, ...deps }: FileDeps): Hono<Env> {
  const app = new Hono<Env>()
  const quota = deps.quota ?? new StorageQuota(store, settings, clock)
  const deadline = new UploadDeadline(store, settings)

  const files = { store, blobs, settings, clock, quota }

  // An input archive; a submission then names it by digest.
  app.post('/uploads', async (c) =>
    c.json(await storeInputs(files, c.get('user').id, c.req.raw.body, declaredBody(c.req.raw).declared), 201),
  )

  app.get('/jobs/:id/outputs', async (c) =>
    outputsArchive(files, await lifecycle.ownJob(c.get('user'), c.req.param('id'))),
  )

  // Worker side: only the owner of the worker that holds the lease may read or write under it.
  const leaseOf = async (user: UserRow, jobId: string, attemptText: string) => {
    const lease = LeaseRef.safeParse({ jobId, attempt: Number(attemptText) })
    const job = await store.queue.job(jobId)
    const worker = job?.workerId ? await store.workers.get(job.workerId) : undefined
    const held =
      lease.success &&
      job &&
      job.attempt === lease.data.attempt &&
      (job.state === 'assigned' || job.state === 'running') &&
      worker?.ownerId === user.id
    if (!held || !lease.success || !job?.workerId) {
      throw new GridError(
        'not_your_lease',
        `no live lease on job ${jobId} attempt ${attemptText} for your workers`,
        {
          status: 409,
        },
      )
    }
    return { lease: lease.data, job, workerId: job.workerId }
  }

  app.get('/leases/:jobId/:attempt/inputs', async (c) => {
    const { job } = await leaseOf(c.get('user'), c.req.param('jobId'), c.req.param('attempt'))
    const tar = job.inputsSha256 ? await blobs.response(job.inputsSha256) : undefined
    if (!tar) throw new GridError('no_inputs', `job ${job.id} has no input files stored`, { status: 404 })
    return tar
  })

  const stage = async (lease: LeaseRef, workerId: string, blob: Blob) => {
    const staged = await store.leases.stageOutputs(lease, workerId, blob)
    switch (staged.result) {
      case 'staged':
        return
      case 'not_held':
        throw new GridError(
          'not_your_lease',
          `the lease on job ${lease.jobId} attempt ${lease.attempt} ended during the upload`,
          { status: 409 },
        )
      case 'other':
        throw new GridError(
          'outputs_staged',
          `job ${lease.jobId} attempt ${lease.attempt} already staged its /out files (${staged.sha256}); an attempt uploads them once: send the result for that archive, or the same archive again`,
          { status: 409 },
        )
      default:
        return assertNever(staged)
    }
  }

  app.put('/leases/:jobId/:attempt/outputs', async (c) => {
    const { lease, job, workerId } = await leaseOf(
      c.get('user'),
      c.req.param('jobId'),
      c.req.param('attempt'),
    )
    const declared = declaredBody(c.req.raw).declared
    const staged = await store.leases.stagedOutputs(lease)
    // Another size cannot be the archive already staged: refused before a byte is read.
    if (staged && declared !== undefined && declared !== staged.bytes) {
      await stage(lease, workerId, { sha256: '', bytes: declared, files: 0, dataBytes: 0 })
    }
    // The files are kept for the job's owner, so they count against the owner's quota.
    const grant = await quota.open(job.ownerId, declared, OUTPUTS)
    // The result comes after the upload: the deadline must not end the job while it runs.
    await deadline.starting(lease, job, workerId, declared, clock.now())
    try {
      // Counted here, from the archive as stored: the worker's own figures are only a claim. Staged
      // before the file is kept, in the same step, so a refused archive leaves nothing on disk.
      const admission = {
        ...grant,
        admit: async (measured: Blob) => {
          await grant.admit(measured)
          await stage(lease, workerId, measured)
        },
      }
      const blob = await blobs.putArchive(
        c.req.raw.body,
        archiveCeiling(settings.maxOutputBytes, settings.maxArchiveEntries),
        {
          what: "the job's /out files",
          maxBytes: settings.maxOutputBytes,
          maxEntries: settings.maxArchiveEntries,
        },
        admission,
      )
      await deadline.staged(lease, job, workerId, clock.now())
      return c.json({ sha256: blob.sha256, bytes: blob.dataBytes, files: blob.files }, 201)
    } finally {
      grant.release()
    }
  })

  return app
}
