import type { Dependency, JobRow, QueuedJob } from '../../coordinator/store'

// A job's place in a batch on its page: the array it belongs to (with its siblings) and what it
// waits for (`--after`), each linked; hono/jsx escapes every value.

/** Siblings listed on a member's page at most (an array may have thousands). */
const SIBLINGS_SHOWN = 100

/** The array a job is a member of, and the jobs it waits for; nothing for a lone job. */
export function JobWorkflow(props: {
  job: JobRow
  members: readonly QueuedJob[]
  after: readonly Dependency[]
}) {
  const { job, members, after } = props
  if (job.arrayId === null && after.length === 0) return null
  const counts = new Map<string, number>()
  for (const m of members) counts.set(m.state, (counts.get(m.state) ?? 0) + 1)
  return (
    <dl class="facts" data-workflow>
      {job.arrayId === null ? null : (
        <>
          <dt>Array</dt>
          <dd data-array={job.arrayId}>
            index <strong>{job.arrayIndex}</strong> of array <code>{job.arrayId}</code> ({members.length} jobs
            {job.arrayCap === null ? '' : `, at most ${job.arrayCap} running at once`};{' '}
            {[...counts].map(([s, n]) => `${n} ${s}`).join(', ')})
          </dd>
          <dt>Members</dt>
          <dd class="members">
            {members.slice(0, SIBLINGS_SHOWN).map((m) => (
              <>
                <a href={`/jobs/${m.id}`} class={`state-${m.state}`} title={`${m.id}: ${m.state}`}>
                  {m.arrayIndex}
                </a>{' '}
              </>
            ))}
            {members.length > SIBLINGS_SHOWN ? (
              <span class="muted">and {members.length - SIBLINGS_SHOWN} more</span>
            ) : null}
          </dd>
        </>
      )}
      {after.length === 0 ? null : (
        <>
          <dt>Waits for</dt>
          <dd data-after>
            {after.map((d) => (
              <>
                <a href={`/jobs/${d.id}`}>{d.id}</a> (<span class={`state-${d.state}`}>{d.state}</span>){' '}
              </>
            ))}
            <span class="muted">{after.some((d) => d.anyEnd) ? 'to end in any way' : 'all to succeed'}</span>
          </dd>
        </>
      )}
    </dl>
  )
}
