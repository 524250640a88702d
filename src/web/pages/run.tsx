import { Hono } from 'hono'
import { quotaOf } from '../body-admission'
import { GridError } from '../../errors'
import { runFormInputBytes } from '../../coordinator/http-limits'
import { LIMITS } from '../../protocol/api'
import type { WebDeps, WebEnv } from '../env'
import { formatBytes } from '../format'
import { Page } from '../layout'
import { filesOf, RUN_DEFAULTS, type RunFields, runFields, submitRun } from '../run-submit'

/** A refusal in the words of someone who never used a terminal, then the coordinator's own. */
function plainWords(err: GridError): string {
  switch (err.status) {
    case 402:
      return `You do not have enough credits to run this job. ${err.message}`
    case 413:
      return `That is too large. ${err.message}`
    case 429:
      return `Too much at once: wait a few seconds and try again. ${err.message}`
    default:
      return err.message
  }
}

function RunForm(props: {
  fields: RunFields
  csrf: string
  maxInputBytes: number
  error?: string | undefined
}) {
  const f = props.fields
  return (
    <form
      class="stack run"
      method="post"
      action="/run"
      enctype="multipart/form-data"
      data-max-script={String(LIMITS.scriptBytes)}
      data-max-inputs={String(props.maxInputBytes)}
    >
      <p class="error" role="alert" data-form-error hidden={!props.error}>
        {props.error ?? ''}
      </p>
      <input type="hidden" name="csrf" value={props.csrf} />
      <label>
        Python script (.py)
        <input type="file" name="script" accept=".py,text/x-python" required />
        <span class="hint">The file to run, at most {formatBytes(LIMITS.scriptBytes)}.</span>
      </label>
      <label>
        Input files (optional)
        <input type="file" name="inputs" multiple />
        <span class="hint">
          Files the script reads, next to it in its folder (each name once); at most{' '}
          {formatBytes(props.maxInputBytes)} in all (more with <code>gridx submit --inputs</code>). Files it
          writes under /out can be downloaded from the job's page.
        </span>
      </label>
      <label>
        Arguments (optional)
        <input name="args" value={f.args} maxlength={1000} placeholder="--n 3" />
        <span class="hint">Words passed to the script, separated by spaces.</span>
      </label>
      <label>
        Image
        <input name="image" value={f.image} required maxlength={256} />
        <span class="hint">The Docker image it runs in; {RUN_DEFAULTS.image} has Python 3.12.</span>
      </label>
      <label>
        CPUs
        <input
          name="cpus"
          type="number"
          min={LIMITS.minCpus}
          max={LIMITS.maxCpus}
          step="0.01"
          value={f.cpus}
          required
        />
      </label>
      <label>
        Memory
        <input name="memory" value={f.memory} required maxlength={20} />
        <span class="hint">For example 512m or 2g.</span>
      </label>
      <label>
        Time limit
        <input name="timeout" value={f.timeout} required maxlength={20} />
        <span class="hint">For example 30s, 10m or 2h: the job is stopped after that long.</span>
      </label>
      <button class="primary" type="submit">
        Run
      </button>
    </form>
  )
}

/** The run section: a form for a script and its files, which starts the job and opens its page. */
export function runPages(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>()
  const quota = quotaOf(deps)
  const page = (csrf: string, user: WebEnv['Variables']['user'], fields: RunFields, error?: string) => (
    <Page title="Run a script" user={user} csrf={csrf} section="run" scripts={['run.js']}>
      <p>
        Pick a Python script and the files it needs; it runs on one of the grid's workers and you see its
        output live.
      </p>
      <RunForm fields={fields} csrf={csrf} maxInputBytes={runFormInputBytes(deps.settings)} error={error} />
    </Page>
  )
  app.get('/run', (c) => c.html(page(c.get('csrf'), c.get('user'), RUN_DEFAULTS)))
  app.post('/run', async (c) => {
    const form = await c.req.parseBody({ all: true })
    const fields = runFields(form)
    try {
      const job = await submitRun(
        deps,
        quota,
        c.get('user'),
        fields,
        filesOf(form, 'script')[0],
        filesOf(form, 'inputs'),
        c.get('upload'),
      )
      return c.redirect(`/jobs/${job.id}`, 303)
    } catch (err) {
      if (!(err instanceof GridError) || err.status >= 500) throw err
      return c.html(page(c.get('csrf'), c.get('user'), fields, plainWords(err)), err.status as 400)
    }
  })
  return app
}
