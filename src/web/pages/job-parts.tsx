import type { AttemptRow, JobRow, WorkerRow } from '../../coordinator/store'
import { isFinal } from '../../protocol/api'
import { verifyReceipt } from '../../protocol/receipt'
import { formatBytes, formatCredits, formatDuration, seconds, when } from '../format'

// The parts of a job's page: each takes rows the page read, and renders only what they hold
// (hono/jsx escapes every value: a worker's or a user's words never become markup).

/** The job's settings and where it stands. */
export function JobFacts(props: {
  job: JobRow
  owner: string
  worker: string | null
  waiting: string | null
}) {
  const { job } = props
  const runs = job.scriptName
    ? [job.scriptName, ...job.args].join(' ')
    : [...job.command, ...job.args].join(' ')
  return (
    <dl class="facts">
      <dt>State</dt>
      <dd>
        <strong class={`state-${job.state}`} data-field="state">
          {job.state}
        </strong>
        {job.exitCode === null ? null : <span> (exit code {job.exitCode})</span>}
      </dd>
      {props.waiting ? (
        <>
          <dt data-waiting>Waiting</dt>
          <dd data-waiting>{props.waiting}</dd>
        </>
      ) : null}
      {job.error ? (
        <>
          <dt>Why it ended</dt>
          <dd class="error">{job.error}</dd>
        </>
      ) : null}
      <dt>Runs</dt>
      <dd>
        <code>{runs}</code> in <code>{job.image}</code>
      </dd>
      {job.name === null ? null : (
        <>
          <dt>Name</dt>
          <dd data-field="name">{job.name}</dd>
        </>
      )}
      {Object.keys(job.labels).length === 0 ? null : (
        <>
          <dt>Labels</dt>
          <dd data-field="labels">
            {Object.entries(job.labels).map(([k, v]) => (
              <code class="label">{`${k}=${v}`} </code>
            ))}
          </dd>
        </>
      )}
      {Object.keys(job.env).length === 0 ? null : (
        <>
          {/* Names only: operators see this page too, and values may be secrets. */}
          <dt>Environment</dt>
          <dd>{Object.keys(job.env).join(', ')}</dd>
        </>
      )}
      <dt>Owner</dt>
      <dd>{props.owner}</dd>
      <dt>Worker</dt>
      <dd data-field="worker">{props.worker ?? '–'}</dd>
      <dt>Limits</dt>
      <dd>
        {job.cpus} CPU, {formatBytes(job.memoryBytes)} memory, timeout {formatDuration(job.timeoutMs)}
      </dd>
      <dt>Attempt</dt>
      <dd>
        {job.attempt} of at most {job.maxAttempts}
      </dd>
      <dt>Times (UTC)</dt>
      <dd>
        submitted {when(job.createdAt)}
        {job.startedAt === null ? null : `, started ${when(job.startedAt)}`}
        {job.finishedAt === null ? null : `, finished ${when(job.finishedAt)}`}
      </dd>
      {job.requirements.length > 0 ? (
        <>
          <dt>Packages</dt>
          <dd>{job.requirements.join(', ')}</dd>
        </>
      ) : null}
    </dl>
  )
}

/** What the job used and what it cost (escrow while it runs). */
export function JobUse(props: { job: JobRow }) {
  const { job } = props
  return (
    <dl class="facts">
      <dt>Wall time</dt>
      <dd>{job.wallMs === null ? 'not yet measured' : seconds(job.wallMs)}</dd>
      <dt>CPU time</dt>
      <dd>{job.wallMs === null ? 'not yet measured' : seconds(job.cpuMs)}</dd>
      <dt>Peak memory</dt>
      <dd>
        {job.wallMs === null
          ? 'not yet measured'
          : job.peakMemoryBytes === null
            ? 'not measured'
            : formatBytes(job.peakMemoryBytes)}
      </dd>
      <dt>Cost</dt>
      <dd>
        {job.cost === null
          ? `up to ${formatCredits(job.maxCost)} credits, held in escrow until it ends`
          : `${formatCredits(job.cost)} credits paid${job.billedMs === null ? '' : ` for ${seconds(job.billedMs)} billed`} (of ${formatCredits(job.maxCost)} escrowed)`}
      </dd>
    </dl>
  )
}

/** Every attempt: where it ran, how and why it ended. */
export function Attempts(props: { attempts: AttemptRow[]; workers: Map<string, string> }) {
  if (props.attempts.length === 0) return <p class="muted">Not given to a worker yet.</p>
  return (
    <div class="scroll">
      <table>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Worker</th>
            <th scope="col">Assigned (UTC)</th>
            <th scope="col">Ended (UTC)</th>
            <th scope="col">Outcome</th>
            <th scope="col">Reason</th>
          </tr>
        </thead>
        <tbody>
          {props.attempts.map((a) => (
            <tr>
              <td>{a.attempt}</td>
              <td>{props.workers.get(a.workerId) ?? a.workerId}</td>
              <td>{when(a.assignedAt)}</td>
              <td>{when(a.endedAt)}</td>
              <td>{a.outcome ?? (a.endedAt === null ? 'running' : '–')}</td>
              <td class="reason">{a.reason ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

/** The signed receipt of the job's result, and whether its signature checks out against the worker's key. */
export function ReceiptPart(props: {
  job: JobRow
  attempt: AttemptRow | undefined
  worker: WorkerRow | undefined
}) {
  const { attempt: a, worker } = props
  if (!a?.receipt || !a.signature || !worker?.publicKey) {
    return (
      <p class="muted">
        No signed result yet{isFinal(props.job.state) ? ' (the job ended without one)' : ''}.
      </p>
    )
  }
  const body = verifyReceipt({ body: a.receipt, signature: a.signature }, worker.publicKey)
  return (
    <>
      {body ? (
        <p class="ok" data-receipt="verified">
          ✓ Signed by worker {worker.name}; the signature verifies against its key.
        </p>
      ) : (
        <p class="bad" data-receipt="invalid">
          ✗ The receipt does NOT verify against worker {worker.name}'s key: it was altered or signed by
          another key.
        </p>
      )}
      <p>
        <a href={`/jobs/${props.job.id}/receipt.json`} download>
          Download the receipt
        </a>{' '}
        <span class="muted">(check it offline with gridx verify FILE)</span>
      </p>
      <pre class="receipt">{a.receipt}</pre>
    </>
  )
}
