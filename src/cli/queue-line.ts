// While a submitted job waits in the queue, one status line on the terminal: how long it has
// waited and why, in the coordinator's words (`waiting`: the reason and its place in the queue),
// redrawn in place and wiped when it starts. Nothing when piped or under -q.
import type { ApiClient } from '../client/api'
import { formatDuration } from '../protocol/units'
import { clearStatus, showStatus, statusLineOn } from './status-line'

/** How often the line's clock is redrawn. */
const TICK_MS = 1000
/** How often the coordinator is asked why the job waits (each answer costs it a few queries). */
const ASK_MS = 3000

/** A queue line being drawn: `onState` hears the job's states, `stop` ends it. */
export interface QueueLine {
  onState: (state: string) => void
  stop: () => void
}

/** Starts the queue line of job `id` (queued now); a no-op off a terminal or under `quiet`. */
export function queueLine(
  api: ApiClient,
  id: string,
  quiet: boolean,
  now: () => number = Date.now,
): QueueLine {
  if (!statusLineOn(quiet)) return { onState: () => undefined, stop: () => undefined }
  let since = now()
  let why: string | undefined
  let queued = true
  let lastAsk = -Infinity
  let asking = false
  const draw = () => {
    if (!queued) return
    const waited = formatDuration(Math.floor((now() - since) / 1000) * 1000)
    showStatus(`gridx: job ${id} queued for ${waited}${why ? `: ${why}` : ''}`)
  }
  const ask = () => {
    if (asking || now() - lastAsk < ASK_MS) return
    asking = true
    lastAsk = now()
    api
      .job(id)
      .then((j) => {
        if (j.state === 'queued') why = j.waiting ?? undefined
      })
      .catch(() => undefined)
      .finally(() => {
        asking = false
        draw()
      })
  }
  const tick = () => {
    ask()
    draw()
  }
  const timer = setInterval(tick, TICK_MS)
  timer.unref()
  tick()
  return {
    onState(state) {
      if (state === 'queued') {
        // Back in the queue (its worker was lost): the wait starts again.
        since = now()
        why = undefined
        queued = true
        return
      }
      if (queued) clearStatus()
      queued = false
    },
    stop() {
      clearInterval(timer)
      if (queued) clearStatus()
      queued = false
    },
  }
}
