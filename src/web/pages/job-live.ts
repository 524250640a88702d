import { Hono } from 'hono'
import { streamSSE } from 'hono/streaming'
import { followOutput, KEEPALIVE_MS } from '../../coordinator/output-follow'
import { InFlight, TooManyOpen } from '../../coordinator/user-caps'
import type { WebDeps, WebEnv } from '../env'
import { visibleJob } from '../job-access'
import { holdStream, liveHeaders, onStreamError } from '../live-stream'
import { isFinal } from '../../protocol/api'

/**
 * A job's output for its page, as server-sent events: the stored output of the current attempt,
 * then live output and state changes until the job ends (the API's follow, in the browser's
 * format). Events: `output` {stream, text}, `state` {state, worker, reason}, `end` {state, exitCode}.
 * Bytes become text here, one decoder per stream, so a character split between chunks stays whole.
 */
export function jobLiveRoutes(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>()
  // Each open page holds a connection for as long as its job runs: a few per user, as the API's follows.
  const open = new InFlight()

  app.get('/jobs/:id/live', async (c) => {
    const user = c.get('user')
    const id = c.req.param('id')
    const seen = await visibleJob(deps, user, id)
    let release: () => void
    try {
      release = open.take(
        `live:${user.id}`,
        deps.settings.maxFollowsPerUser,
        (n) =>
          new TooManyOpen(
            `you have ${n} job pages showing live output already, the most this coordinator allows at once: close some and reload`,
          ),
      )
    } catch (err) {
      if (err instanceof TooManyOpen) return c.text(err.message, 429)
      throw err
    }
    // A job may stay quiet for hours: exempt from the idle timeout, with keepalives instead (one
    // already ended sends its output and ends at once: nothing to hold).
    const restore = isFinal(seen.state) ? () => undefined : holdStream(deps, c.req.raw)
    const keepaliveMs = Math.min(KEEPALIVE_MS, deps.settings.idleTimeoutMs / 2)
    const res = streamSSE(
      c,
      async (sse) => {
        const abort = new AbortController()
        sse.onAbort(() => abort.abort())
        const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() }
        try {
          const events = followOutput(deps, id, {
            follow: true,
            signal: abort.signal,
            keepaliveMs,
            load: () => visibleJob(deps, user, id),
            end: (job) => Promise.resolve(job),
          })
          for await (const e of events) {
            switch (e.type) {
              case 'output': {
                const text = decoders[e.stream].decode(Buffer.from(e.data, 'base64'), { stream: true })
                if (text)
                  await sse.writeSSE({ event: 'output', data: JSON.stringify({ stream: e.stream, text }) })
                break
              }
              case 'state':
                await sse.writeSSE({ event: 'state', data: JSON.stringify(e) })
                break
              case 'keepalive':
                await sse.write(': keepalive\n\n')
                break
              case 'end':
                await sse.writeSSE({
                  event: 'end',
                  data: JSON.stringify({ state: e.job.state, exitCode: e.job.exitCode }),
                })
                break
              default:
                return e satisfies never
            }
          }
        } finally {
          restore()
          release()
        }
      },
      onStreamError(deps),
    )
    return liveHeaders(res)
  })
  return app
}
