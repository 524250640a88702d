import { isFinal, type OutputEvent } from '../protocol/api'
import type { JobEvents } from './events'
import type { JobRow, Store } from './store'

/** Most time between two events of a followed output stream: proxies and clients see it is alive. */
export const KEEPALIVE_MS = 15_000

/** An event of a followed output: the API's, with the job at the end as the caller shows it. */
export type FollowEvent<J> = Exclude<OutputEvent, { type: 'end' }> | { type: 'end'; job: J }

/** How to follow one job's output: who may see it is the caller's (`load` throws its 404). */
export interface FollowOptions<J> {
  /** Keep going with live events until the job ends; otherwise only the stored output. */
  follow: boolean
  /** Ends the stream (the client went away). */
  signal: AbortSignal
  /** A keepalive event after this long without another. */
  keepaliveMs: number
  /** Reads the job as its viewer may see it. */
  load: () => Promise<JobRow>
  /** The job as the `end` event carries it (the API: its JobView). */
  end: (job: JobRow) => Promise<J>
}

/**
 * One job's output as events: the stored chunks of its current attempt, then (with `follow`) live
 * output and state changes until it ends, re-reading the store where events from elsewhere are
 * missing. What the API's NDJSON stream and the dashboard's event stream both send.
 */
export async function* followOutput<J>(
  deps: { store: Store; events: JobEvents },
  id: string,
  opts: FollowOptions<J>,
): AsyncGenerator<FollowEvent<J>> {
  const { store, events } = deps
  const sub = events.subscribe(id)
  // Every keepaliveMs the wait for the next event gives up once, and a keepalive goes out.
  let beat = new AbortController()
  const beats = setInterval(() => beat.abort(), opts.keepaliveMs)
  try {
    let job = await opts.load()
    let attempt = job.attempt
    let lastSeq = -1
    const replay = async function* (): AsyncGenerator<FollowEvent<J>> {
      for (const ch of await store.leases.output(id, attempt, lastSeq)) {
        lastSeq = ch.seq
        yield { type: 'output', stream: ch.stream, data: ch.data.toString('base64') }
      }
    }
    yield* replay()
    while (opts.follow && !isFinal(job.state)) {
      const e = await sub.next(AbortSignal.any([opts.signal, beat.signal]))
      if (opts.signal.aborted) return
      if (!e) {
        beat = new AbortController()
        yield { type: 'keepalive' }
        continue
      }
      if (e.type === 'output') {
        if (e.attempt !== attempt || e.seq <= lastSeq) continue
        if (e.seq !== lastSeq + 1) yield* replay()
        else {
          lastSeq = e.seq
          yield { type: 'output', stream: e.stream, data: e.data.toString('base64') }
        }
      } else if (e.type === 'stored') {
        // Stored through another coordinator: the chunks are read from the database.
        if (e.attempt === attempt && e.seq > lastSeq) yield* replay()
      } else if (e.type === 'state') {
        if (e.attempt !== attempt || e.state === 'queued') {
          attempt = e.state === 'queued' ? e.attempt + 1 : e.attempt
          lastSeq = -1
        }
        yield { type: 'state', state: e.state, worker: e.worker, reason: e.reason ?? null }
      } else {
        job = await opts.load()
        attempt = job.attempt
        yield* replay()
      }
    }
    job = await opts.load()
    yield { type: 'end', job: await opts.end(job) }
  } finally {
    clearInterval(beats)
    sub.close()
  }
}
