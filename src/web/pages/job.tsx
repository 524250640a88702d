import { Hono } from 'hono'
import { outputsArchive } from '../../coordinator/job-files'
import { isFinal } from '../../protocol/api'
import { receiptOf, signedAttempt } from '../../coordinator/receipts'
import type { WebDeps, WebEnv } from '../env'
import { formatBytes } from '../format'
import { visibleJob } from '../job-access'
import { Page } from '../layout'
import { Attempts, JobFacts, JobUse, ReceiptPart } from './job-parts'
import { jobLiveRoutes } from './job-live'
import { JobWorkflow } from './job-workflow'
import { waitsFor } from '../../coordinator/workflows'

/**
 * A job's page: where it stands, its attempts, use, cost and receipt, its /out files, a cancel
 * button, and its output as it is produced. Its owner's only (operators too); everyone else gets
 * the API's 404, which says nothing of whether the job exists.
 */
export function jobPages(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>()
  const workerName = async (id: string | null) =>
    id ? ((await deps.store.workers.get(id))?.name ?? id) : null

  app.get('/jobs/:id', async (c) => {
    const user = c.get('user')
    const job = await visibleJob(deps, user, c.req.param('id'))
    // The page is its owner's alone (visibleJob), so the owner is the viewer: no lookup.
    const owner = user.name
    const attempts = await deps.store.leases.attemptsOf(job.id)
    const workers = new Map<string, string>()
    for (const a of attempts) workers.set(a.workerId, (await workerName(a.workerId)) ?? a.workerId)
    const signed = signedAttempt(attempts)
    const signer = signed ? await deps.store.workers.get(signed.workerId) : undefined
    const after = await deps.store.workflows.dependencies(job.id)
    const members = job.arrayId === null ? [] : await deps.store.workflows.members(job.arrayId)
    const waiting =
      job.state !== 'queued' ? null : job.held ? waitsFor(after) : await deps.scheduler.explain(job)
    const final = isFinal(job.state)
    return c.html(
      <Page title={`Job ${job.id}`} user={user} csrf={c.get('csrf')} section="jobs" scripts={['job-live.js']}>
        <div class="job" data-job-live={`/jobs/${job.id}/live`} data-final={final ? '1' : undefined}>
          <JobFacts job={job} owner={owner} worker={await workerName(job.workerId)} waiting={waiting} />
          <JobWorkflow job={job} members={members} after={after} />
          {!final ? (
            <form method="post" action={`/jobs/${job.id}/cancel`} class="cancel" data-hide-when-ended>
              <input type="hidden" name="csrf" value={c.get('csrf')} />
              <button type="submit" class="danger">
                Cancel this job
              </button>
            </form>
          ) : null}
          <p class="notice" data-when-ended hidden>
            The job has ended. <a href={`/jobs/${job.id}`}>Reload the page</a> to see its resource use, cost,
            receipt and files.
          </p>
          <h2 id="output-title">Output</h2>
          <p class="muted legend">
            <span class="stdout">standard output</span> · <span class="stderr">standard error (in red)</span>
          </p>
          <pre class="output" aria-labelledby="output-title" aria-live="polite" tabindex={0} data-output>
            {final ? null : <span class="muted">waiting for output…</span>}
          </pre>
          <h2>Resource use and cost</h2>
          <JobUse job={job} />
          <h2>Files the job wrote under /out</h2>
          {job.outputsSha256 ? (
            <p>
              <a href={`/jobs/${job.id}/outputs.tar`} download>
                Download {job.outputFiles ?? 0} file(s) ({formatBytes(job.outputsBytes ?? 0)}, a tar archive)
              </a>
            </p>
          ) : (
            <p class="muted">
              {final ? 'It wrote no files under /out.' : 'Files come back when the job ends.'}
            </p>
          )}
          <h2>Attempts</h2>
          <Attempts attempts={attempts} workers={workers} />
          <h2>Receipt</h2>
          <ReceiptPart job={job} attempt={signed} worker={signer} />
        </div>
      </Page>,
    )
  })

  // The API's cancel, with its rule: the owner's own jobs only.
  app.post('/jobs/:id/cancel', async (c) => {
    const job = await deps.lifecycle.cancel(c.get('user'), c.req.param('id'))
    deps.scheduler.wake()
    return c.redirect(`/jobs/${job.id}`, 303)
  })

  // The stored /out archive, as `gridx download` gets it: the owner's only.
  app.get('/jobs/:id/outputs.tar', async (c) => {
    const job = await deps.lifecycle.ownJob(c.get('user'), c.req.param('id'))
    const tar = await outputsArchive(deps, job)
    const headers = new Headers(tar.headers)
    headers.set('content-disposition', `attachment; filename="gridx-${job.id}-out.tar"`)
    return new Response(tar.body, { status: tar.status, headers })
  })

  // The receipt as `gridx verify` reads it (what the API's /receipt answers).
  app.get('/jobs/:id/receipt.json', async (c) => {
    const job = await visibleJob(deps, c.get('user'), c.req.param('id'))
    const file = await receiptOf(deps.store, job)
    c.header('content-disposition', `attachment; filename="gridx-${job.id}-receipt.json"`)
    return c.json(file)
  })

  app.route('/', jobLiveRoutes(deps))
  return app
}
