// The upload of a submission's input files: streamed from disk, with a progress line on a
// terminal (bytes sent, share of the whole, rate), nothing when piped or under -q.
import type { InputEntry } from '../client/files'
import { inputBytes, packInputs } from '../client/input-stream'
import { StreamBody } from '../client/stream-body'
import { formatBytes } from '../protocol/units'
import { clearStatus, showStatus, statusLineOn } from './status-line'

/** How often the progress line is redrawn, at most. */
const REDRAW_MS = 100

/** The body of an upload of `entries`, and `done` to wipe its progress line once it is sent (or failed). */
export function uploadBody(
  entries: readonly InputEntry[],
  quiet: boolean | undefined,
  now: () => number = Date.now,
): { body: StreamBody; done: () => void } {
  const total = inputBytes(entries)
  const drawing = statusLineOn(quiet)
  let sent = 0
  let started = 0
  let drawn = -Infinity
  const draw = () => {
    const t = now()
    const seconds = Math.max((t - started) / 1000, 0.001)
    const pct = total === 0 ? 100 : Math.floor((sent * 100) / total)
    showStatus(
      `gridx: uploading ${formatBytes(sent)} of ${formatBytes(total)} (${pct}%), ${formatBytes(sent / seconds)}/s`,
    )
    drawn = t
  }
  const onBytes = (n: number) => {
    sent += n
    if (!drawing) return
    if (now() - drawn >= REDRAW_MS || sent === total) draw()
  }
  const body = new StreamBody((fail) => {
    // A second address tried starts the count again.
    sent = 0
    started = now()
    if (drawing) draw()
    return packInputs(entries, onBytes, fail)
  }, 'application/x-tar')
  return { body, done: () => drawing && clearStatus() }
}
