import { Hono, type MiddlewareHandler } from 'hono'
import { requireOperator } from '../../coordinator/auth'
import type { InviteView } from '../../protocol/api'
import { formatCredits } from '../../protocol/credits'
import type { WebDeps, WebEnv } from '../env'
import { FlashView, takeFlash } from '../flash'
import { credits, When } from '../format'
import { Page } from '../layout'
import { adminActions } from './admin-actions'

/** Accounts the users table shows (the newest): a grid of many thousands stays one quick page. */
export const USERS_LISTED = 500

function Invites(props: { invites: InviteView[]; csrf: string }) {
  if (props.invites.length === 0) return <p class="muted">No invite yet.</p>
  return (
    <div class="scroll" role="region" aria-labelledby="invites" tabindex={0}>
      <table>
        <thead>
          <tr>
            <th scope="col">Id</th>
            <th scope="col">Made by</th>
            <th scope="col">Grant</th>
            <th scope="col">Used</th>
            <th scope="col">Expires</th>
            <th scope="col">State</th>
            <th scope="col">Accounts made</th>
            <th scope="col">
              <span class="sr-only">Action</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {props.invites.map((i) => (
            <tr>
              <th scope="row">
                <code>{i.id}</code>
              </th>
              <td>{i.createdBy}</td>
              <td>{credits(i.grantMc)}</td>
              <td>{`${i.used} of ${i.uses}`}</td>
              <td>
                <When at={Date.parse(i.expiresAt)} />
              </td>
              <td>{i.state}</td>
              <td>{i.usedBy.join(', ')}</td>
              <td>
                {i.state === 'active' ? (
                  <form method="post" action={`/admin/invites/${encodeURIComponent(i.id)}/revoke`}>
                    <input type="hidden" name="csrf" value={props.csrf} />
                    <button class="danger" type="submit" aria-label={`Revoke invite ${i.id}`}>
                      Revoke
                    </button>
                  </form>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

/**
 * The operator's page: the accounts with their credits, the ledger's audit, grants and invites.
 * Operators only (anyone else gets the API's 403, as a page).
 */
export function adminPages(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>()
  const operatorsOnly: MiddlewareHandler<WebEnv> = async (c, next) => {
    requireOperator(c.get('user'))
    await next()
  }
  app.use('/admin', operatorsOnly)
  app.use('/admin/*', operatorsOnly)
  app.route('/', adminActions(deps))
  app.get('/admin', async (c) => {
    const user = c.get('user')
    const csrf = c.get('csrf')
    const flash = takeFlash(c, deps, '/admin')
    const now = deps.clock.now()
    const [{ users, total }, audit, operators, invites] = await Promise.all([
      deps.store.stats.users(USERS_LISTED),
      deps.store.credits.audit(),
      deps.store.accounts.operators(),
      deps.store.invites.list(now),
    ])
    return c.html(
      <Page title="Operator" user={user} csrf={csrf} section="admin">
        <FlashView flash={flash} />
        <h2 id="audit">Ledger audit</h2>
        <p class={audit.ok ? 'ok' : 'bad'} data-audit={audit.ok ? 'ok' : 'failed'}>
          {audit.ok
            ? 'The ledger balances: every credit ever minted is in a balance or in escrow, escrow holds exactly what the unfinished jobs may cost, and no account is negative.'
            : 'The ledger does NOT balance: see the figures below and the coordinator log.'}
        </p>
        <dl class="figures">
          <dt>minted</dt>
          <dd>{credits(audit.minted)}</dd>
          <dt>in balances</dt>
          <dd>{credits(audit.balances)}</dd>
          <dt>in escrow</dt>
          <dd>{credits(audit.escrow)}</dd>
          <dt>unfinished jobs may cost</dt>
          <dd>{credits(audit.escrowDue)}</dd>
          <dt>negative accounts</dt>
          <dd>{String(audit.negativeAccounts)}</dd>
          <dt>transfers</dt>
          <dd>{String(audit.transfers)}</dd>
          <dt>operators</dt>
          <dd>{operators.join(', ')}</dd>
        </dl>

        <h2 id="users">Users</h2>
        <div class="scroll" role="region" aria-labelledby="users" tabindex={0}>
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Operator</th>
                <th scope="col">Since</th>
                <th scope="col" class="num">
                  Balance
                </th>
                <th scope="col" class="num">
                  Escrow
                </th>
                <th scope="col" class="num">
                  Jobs
                </th>
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr>
                  <th scope="row">{u.name}</th>
                  <td>{u.isAdmin ? 'yes' : 'no'}</td>
                  <td>
                    <When at={u.createdAt} />
                  </td>
                  <td class="num">{formatCredits(u.balance)}</td>
                  <td class="num">{formatCredits(u.escrow)}</td>
                  <td class="num">{String(u.jobs)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {total > users.length ? (
          <p class="muted" data-more-users>
            {`The newest ${users.length} of ${total} accounts; ${total - users.length} more are not listed.`}
          </p>
        ) : null}

        <h2 id="grant">Grant credits</h2>
        <form class="stack" method="post" action="/admin/grant" aria-labelledby="grant">
          <input type="hidden" name="csrf" value={csrf} />
          <label>
            User
            <input name="user" required maxlength={64} autocomplete="off" list="user-names" />
          </label>
          <datalist id="user-names">
            {users.map((u) => (
              <option value={u.name} />
            ))}
          </datalist>
          <label>
            Credits
            <input name="amount" required inputmode="decimal" pattern="[0-9]+(\.[0-9]{1,3})?" />
          </label>
          <label>
            Memo (optional)
            <input name="memo" maxlength={200} />
          </label>
          <button class="primary" type="submit">
            Grant
          </button>
        </form>

        <h2 id="invites">Invites</h2>
        <Invites invites={invites} csrf={csrf} />
        <h3 id="new-invite">New invite</h3>
        <form class="stack" method="post" action="/admin/invites" aria-labelledby="new-invite">
          <input type="hidden" name="csrf" value={csrf} />
          <label>
            {`Credits each new account starts with (default ${formatCredits(deps.settings.signupGrantMc)})`}
            <input name="grant" inputmode="decimal" pattern="[0-9]+(\.[0-9]{1,3})?" />
          </label>
          <label>
            Accounts it may make (default 1)
            <input name="uses" type="number" min={1} max={10000} />
          </label>
          <label>
            Days it lasts (default 7)
            <input name="days" type="number" min={1} max={365} step="any" />
          </label>
          <button class="primary" type="submit">
            Make an invite
          </button>
        </form>
      </Page>,
    )
  })
  return app
}
