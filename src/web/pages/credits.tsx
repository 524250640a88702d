import { Hono } from 'hono'
import { GridError } from '../../errors'
import type { WebDeps, WebEnv } from '../env'
import { credits, When } from '../format'
import { Page } from '../layout'

/** History lines on one page. */
export const HISTORY_PAGE = 25

const KIND: Record<string, string> = {
  grant: 'grant',
  escrow: 'held for a job',
  pay: 'paid for a job',
  refund: 'returned from escrow',
}

/** The user's credits: balance, escrow and their history, a page at a time (as `GET /api/credits`). */
export function creditsPages(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>()
  app.get('/credits', async (c) => {
    const user = c.get('user')
    const beforeText = c.req.query('before')
    const before = beforeText === undefined ? undefined : Number(beforeText)
    if (before !== undefined && !(Number.isInteger(before) && before > 0)) {
      throw new GridError('bad_request', "'before' must be a history sequence number", { status: 400 })
    }
    const { balance, escrow, history } = await deps.store.credits.of(user.id, HISTORY_PAGE + 1, before)
    const page = history.slice(0, HISTORY_PAGE)
    const older = history.length > HISTORY_PAGE ? page.at(-1)?.seq : undefined
    return c.html(
      <Page title="Credits" user={user} csrf={c.get('csrf')} section="credits">
        <div class="cards">
          <div class="card">
            <div class="n" data-field="balance">
              {credits(balance)}
            </div>
            <div class="l">balance (spendable)</div>
          </div>
          <div class="card">
            <div class="n">{credits(escrow)}</div>
            <div class="l">in escrow for your unfinished jobs</div>
          </div>
        </div>
        <h2 id="history">History{before !== undefined ? ' (older)' : ''}</h2>
        {page.length === 0 ? (
          <p class="muted">Nothing {before !== undefined ? 'older' : 'yet'}.</p>
        ) : (
          <div class="scroll" role="region" aria-labelledby="history" tabindex={0}>
            <table>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">What</th>
                  <th scope="col">Job</th>
                  <th scope="col">With</th>
                  <th scope="col">Account</th>
                  <th scope="col" class="num">
                    Amount
                  </th>
                  <th scope="col">Memo</th>
                </tr>
              </thead>
              <tbody>
                {page.map((h) => (
                  <tr data-seq={String(h.seq)}>
                    <td>
                      <When at={h.at} />
                    </td>
                    <td>{KIND[h.kind] ?? h.kind}</td>
                    <td>{h.jobId ? <a href={`/jobs/${encodeURIComponent(h.jobId)}`}>{h.jobId}</a> : ''}</td>
                    <td>{h.counterparty}</td>
                    <td>{h.account}</td>
                    <td class={`num ${h.amount < 0 ? 'bad' : 'ok'}`}>{credits(h.amount)}</td>
                    <td>{h.memo ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <nav class="pager" aria-label="History pages">
          {before !== undefined ? <a href="/credits">Newest</a> : null}
          {older !== undefined ? (
            <a href={`/credits?before=${older}#history`} rel="next">
              Older
            </a>
          ) : null}
        </nav>
      </Page>,
    )
  })
  return app
}
