import { Hono } from 'hono'
import type { QueuedJob } from '../../coordinator/store/types'
import { JobState } from '../../protocol/api'
import type { WebDeps, WebEnv } from '../env'
import { formatCredits, when } from '../format'
import { Page } from '../layout'
import { jobPages } from './job'

/** Jobs per page of the list. */
const PAGE = 50

/** What the list shows: the query string of `/jobs`, checked (anything odd is ignored, not an error). */
interface ListQuery {
  state: JobState | undefined
  q: string
  all: boolean
  before: { createdAt: number; id: string } | undefined
}

function parseQuery(url: URL, operator: boolean): ListQuery {
  const p = url.searchParams
  const state = JobState.safeParse(p.get('state'))
  const cursor = /^(\d{1,16})\.([a-z0-9-]{1,64})$/.exec(p.get('before') ?? '')
  return {
    state: state.success ? state.data : undefined,
    q: (p.get('q') ?? '').trim().slice(0, 100),
    all: operator && p.get('all') === '1',
    before: cursor ? { createdAt: Number(cursor[1]), id: cursor[2]! } : undefined,
  }
}

/** The link of a list page with `q` and `over` changed. */
function listHref(q: ListQuery, over: Partial<Omit<ListQuery, 'before'>> & { before?: string }): string {
  const merged = { ...q, ...over }
  const p = new URLSearchParams()
  if (merged.state) p.set('state', merged.state)
  if (merged.q) p.set('q', merged.q)
  if (merged.all) p.set('all', '1')
  if (over.before) p.set('before', over.before)
  const s = p.toString()
  return s ? `/jobs?${s}` : '/jobs'
}

/** What a job runs, in a few words: its script and arguments, or its command. */
export function whatRuns(job: Pick<QueuedJob, 'scriptName' | 'command' | 'args'>): string {
  const words = job.scriptName ? [job.scriptName, ...job.args] : [...job.command, ...job.args]
  const text = words.join(' ')
  return text.length > 80 ? `${text.slice(0, 79)}…` : text
}

function Filters(props: { q: ListQuery; operator: boolean }) {
  const { q } = props
  return (
    <form class="filters" method="get" action="/jobs" role="search">
      <label>
        State
        <select name="state">
          <option value="">any</option>
          {JobState.options.map((s) => (
            <option value={s} selected={q.state === s}>
              {s}
            </option>
          ))}
        </select>
      </label>
      <label>
        Search
        <input name="q" type="search" value={q.q} maxlength={100} placeholder="job id, name or script name" />
      </label>
      {props.operator ? (
        <label class="inline">
          <input type="checkbox" name="all" value="1" checked={q.all} />
          Everyone's jobs
        </label>
      ) : null}
      <button type="submit">Show</button>
    </form>
  )
}

/** The jobs section: the list (with its filters), and each job's page. */
export function jobsPages(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>()
  app.get('/jobs', async (c) => {
    const user = c.get('user')
    const q = parseQuery(new URL(c.req.url), user.isAdmin)
    const rows = await deps.store.queue.list({
      ownerId: q.all ? undefined : user.id,
      state: q.state,
      search: q.q || undefined,
      before: q.before,
      limit: PAGE + 1,
    })
    const jobs = rows.slice(0, PAGE)
    const last = jobs.at(-1)
    const older = rows.length > PAGE && last ? `${last.createdAt}.${last.id}` : undefined
    return c.html(
      <Page title="Jobs" user={user} csrf={c.get('csrf')} section="jobs">
        <Filters q={q} operator={user.isAdmin} />
        {jobs.length === 0 ? (
          <p class="muted">
            {q.state || q.q || q.before ? 'No jobs match.' : 'No jobs yet. '}
            {q.state || q.q || q.before ? null : <a href="/run">Run a script</a>}
          </p>
        ) : (
          <div class="scroll">
            <table class="jobs">
              <thead>
                <tr>
                  <th scope="col">Job</th>
                  <th scope="col">Runs</th>
                  <th scope="col">State</th>
                  {q.all ? <th scope="col">Owner</th> : null}
                  <th scope="col">Submitted (UTC)</th>
                  <th scope="col">Cost</th>
                </tr>
              </thead>
              <tbody>
                {jobs.map((j) => (
                  <tr>
                    <td>
                      {/* Another's job page answers 404 (pages are owner-only): its id is text. */}
                      {j.ownerId === user.id ? (
                        <a href={`/jobs/${j.id}`}>
                          <code>{j.id}</code>
                        </a>
                      ) : (
                        <code>{j.id}</code>
                      )}
                    </td>
                    <td>
                      {j.name === null ? null : <strong class="job-name">{j.name} </strong>}
                      {whatRuns(j)}
                      {Object.entries(j.labels).map(([k, v]) => (
                        <code class="label"> {`${k}=${v}`}</code>
                      ))}
                    </td>
                    <td class={`state-${j.state}`}>{j.state}</td>
                    {q.all ? <td>{j.ownerName}</td> : null}
                    <td>{when(j.createdAt)}</td>
                    <td>{j.cost === null ? `up to ${formatCredits(j.maxCost)}` : formatCredits(j.cost)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <p class="pager">
          {q.before ? <a href={listHref(q, {})}>Newest</a> : null}
          {older ? <a href={listHref(q, { before: older })}>Older jobs →</a> : null}
        </p>
      </Page>,
    )
  })
  app.route('/', jobPages(deps))
  return app
}
