import { Hono } from 'hono'
import type { WorkerConn } from '../../coordinator/worker-conn'
import type { SeenWorker, WorkerTotals } from '../../coordinator/store'
import { formatBytes } from '../../protocol/units'
import type { WebDeps, WebEnv } from '../env'
import { credits, duration, When } from '../format'
import { Page } from '../layout'
import { workersReading } from '../live/workers-reading'

/** Rows the table shows at most: the connected workers first, then the most recently seen. */
export const WORKERS_LISTED = 500

/** One row of the workers table: a connected worker, or one the store saw lately that is gone. */
interface Row {
  id: string
  name: string
  owner: string
  conn?: WorkerConn | undefined
  seen?: SeenWorker | undefined
  totals: WorkerTotals
}

function Policy(props: { conn: WorkerConn }) {
  const p = props.conn.policy
  return (
    <ul class="plain">
      <li>
        images: <code>{p.images.join(', ')}</code>
      </li>
      <li>max timeout: {p.maxTimeoutMs === null ? 'no limit' : duration(p.maxTimeoutMs)}</li>
      <li>workdir: {p.workdirBytes === null ? 'not said' : formatBytes(p.workdirBytes)}</li>
      <li>packages: {p.packages === true ? 'installs Python packages' : 'no'}</li>
    </ul>
  )
}

function WorkerRowView(props: { row: Row }) {
  const { row } = props
  const c = row.conn
  const state = c ? (c.draining ? 'draining' : 'ready') : 'gone'
  return (
    <tr>
      <th scope="row">
        {row.name}
        <div class="muted small">{row.id}</div>
      </th>
      <td>{row.owner}</td>
      <td>
        <span class={`worker-${state}`}>{state}</span>
      </td>
      <td>{c ? c.version : <span class="muted">–</span>}</td>
      <td>
        {c ? (
          <>
            {`${c.slots} slots, ${c.cpus} CPUs, ${formatBytes(c.memoryBytes)}`}
            <div class="muted small">docker {c.docker}</div>
          </>
        ) : (
          <span class="muted">–</span>
        )}
      </td>
      <td>{c ? <Policy conn={c} /> : <span class="muted">–</span>}</td>
      <td>{c ? String(c.active.size) : '0'}</td>
      <td>{String(row.totals.jobs)}</td>
      <td>{credits(row.totals.earnedMc)}</td>
      <td>
        {c ? (
          <When at={c.lastBeat} />
        ) : (
          <>
            <span class="muted">last connected </span>
            <When at={row.seen?.lastSeenAt} />
          </>
        )}
      </td>
    </tr>
  )
}

/**
 * The workers of the grid, as `GET /api/workers` shows them to any logged-in user, with what
 * they have done; workers seen in the last week that are not connected are listed as gone.
 */
export function workersPages(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>()
  const read = workersReading(deps)
  app.get('/workers', async (c) => {
    const { totals, seen } = await read()
    const none: WorkerTotals = { jobs: 0, earnedMc: 0 }
    const connected = deps.hub.connected()
    const rows: Row[] = connected.map((conn) => ({
      id: conn.id,
      name: conn.name,
      owner: conn.owner.name,
      conn,
      totals: totals.get(conn.id) ?? none,
    }))
    const here = new Set(connected.map((w) => w.id))
    for (const w of seen) {
      if (here.has(w.id)) continue
      rows.push({ id: w.id, name: w.name, owner: w.owner, seen: w, totals: totals.get(w.id) ?? none })
    }
    const shown = rows.slice(0, WORKERS_LISTED)
    return c.html(
      <Page title="Workers" user={c.get('user')} csrf={c.get('csrf')} section="workers">
        <p>
          {`${connected.length} connected to this coordinator`}
          {rows.length > connected.length
            ? `, ${rows.length - connected.length} gone (seen in the last 7 days)`
            : ''}
          .
        </p>
        {rows.length === 0 ? (
          <p class="muted">
            No worker yet. Anyone with an account can add one: <code>gridx work --coordinator HOST</code>.
          </p>
        ) : (
          <div class="scroll" role="region" aria-label="Workers" tabindex={0}>
            <table>
              <caption class="sr-only">Workers of the grid</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Owner</th>
                  <th scope="col">State</th>
                  <th scope="col">Version</th>
                  <th scope="col">Capacity</th>
                  <th scope="col">Owner's policy</th>
                  <th scope="col">Running</th>
                  <th scope="col">Jobs done</th>
                  <th scope="col">Earned</th>
                  <th scope="col">Last heartbeat</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((row) => (
                  <WorkerRowView row={row} />
                ))}
              </tbody>
            </table>
          </div>
        )}
        {rows.length > shown.length ? (
          <p class="muted" data-more-workers>
            {`The first ${shown.length} of ${rows.length} workers; ${rows.length - shown.length} more (gone longest) are not listed.`}
          </p>
        ) : null}
      </Page>,
    )
  })
  return app
}
