import { GridError } from '../errors'
import { formatBytes, formatDuration } from '../protocol/units'
import type { BodyRule } from './http-limits'

/** How fast a body must arrive: `floorMs` for anything, then at least `minRate` bytes per second on average. */
export interface BodyPace {
  floorMs: number
  minRate: number
}

/** The 413 of a body past its route's limit. */
export function bodyTooLarge(rule: BodyRule): GridError {
  const raise = rule.flag ? ` (the operator sets it with gridx serve ${rule.flag})` : ''
  return new GridError(
    'body_too_large',
    `the request body is larger than ${formatBytes(rule.maxBytes)}, the most this coordinator accepts for ${rule.what}${raise}: send less`,
    { status: 413 },
  )
}

/**
 * A request body read through a meter: cut off with a 413 past the route's limit as the bytes
 * arrive (nothing is buffered beyond what the reader asked for), and with a 408 when it falls
 * behind the pace: by any moment t after its start, at least (t - floor) * minRate bytes.
 * Bun's own idle timer cannot do this: it restarts only after 16 KiB per second of idle timeout
 * have arrived, so it cuts off slow honest uploads and lets a steady 16 KiB/s trickle run forever.
 */
export class MeteredBody {
  /** The body to hand to the routes. */
  readonly stream: ReadableStream<Uint8Array>
  private received = 0
  private ended = false

  constructor(source: ReadableStream<Uint8Array>, rule: BodyRule, pace: BodyPace) {
    const reader = source.getReader()
    const started = performance.now()
    const fail = (ctl: ReadableStreamDefaultController<Uint8Array>, err: GridError) => {
      reader.cancel(err).catch(() => undefined)
      ctl.error(err)
    }
    this.stream = new ReadableStream<Uint8Array>({
      pull: async (ctl) => {
        const due = started + pace.floorMs + (this.received / pace.minRate) * 1000
        let timer: ReturnType<typeof setTimeout> | undefined
        const late = new Promise<'late'>((resolve) => {
          timer = setTimeout(() => resolve('late'), Math.max(0, due - performance.now()))
        })
        let next: Awaited<ReturnType<typeof reader.read>> | 'late'
        try {
          next = await Promise.race([reader.read(), late])
        } catch (err) {
          // The client went away: the reader of the body sees the same as without the meter.
          return ctl.error(err)
        } finally {
          clearTimeout(timer)
        }
        if (next === 'late') return fail(ctl, this.tooSlow(performance.now() - started, pace))
        if (next.done) {
          this.ended = true
          return ctl.close()
        }
        this.received += next.value.byteLength
        if (this.received > rule.maxBytes) return fail(ctl, bodyTooLarge(rule))
        ctl.enqueue(next.value)
      },
      cancel: (reason) => reader.cancel(reason),
    })
  }

  /** True once the whole body was read: the connection can then carry another request. */
  get finished(): boolean {
    return this.ended
  }

  private tooSlow(elapsedMs: number, pace: BodyPace): GridError {
    return bodyTooSlow(this.received, elapsedMs, pace)
  }
}

/** The 408 of a body that fell behind its pace. */
function bodyTooSlow(received: number, elapsedMs: number, pace: BodyPace): GridError {
  return new GridError(
    'body_timeout',
    `the request body arrived too slowly (${formatBytes(received)} in ${formatDuration(elapsedMs)}): after the first ${formatDuration(pace.floorMs)} this coordinator needs at least ${formatBytes(pace.minRate)} per second; check the network, or ask its operator (gridx serve --min-upload-rate)`,
    { status: 408 },
  )
}

/** A small JSON body left for its route to read whole (`readSmallBody`), with the pace it must keep. */
const deferred = new WeakMap<
  Request,
  { declared: number; pace: BodyPace; read: boolean; onRead?: (() => void) | undefined }
>()

/** Leaves a small body of declared length to its route's `readSmallBody` (instead of a meter). */
export function deferBody(req: Request, declared: number, pace: BodyPace): void {
  deferred.set(req, { declared, pace, read: false })
}

/**
 * Runs `fn` once the deferred body of `req` is read (its holder's count of bodies in flight can
 * drop then: what is left of the request holds no body). False when `req`'s body is not deferred.
 */
export function whenBodyRead(req: Request, fn: () => void): boolean {
  const small = deferred.get(req)
  if (!small) return false
  small.onRead = fn
  return true
}

/** True when the body of a request given to `deferBody` was read to its end. */
export function deferredBodyRead(req: Request): boolean {
  return deferred.get(req)?.read === true
}

/**
 * The body as text: a small deferred one (a JSON request) read whole under the pace it would
 * have through the meter, due by its floor plus its length at the minimum rate. One timer for
 * the body, not a stream and a timer per chunk: that was a tenth of a submission's cost.
 */
export async function readSmallBody(req: Request): Promise<string> {
  const small = deferred.get(req)
  if (!small) return await req.text()
  const { declared, pace } = small
  const started = performance.now()
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), pace.floorMs + (declared / pace.minRate) * 1000)
  })
  try {
    const text = await Promise.race([req.text(), late])
    if (text === 'late') {
      req.body?.cancel().catch(() => undefined)
      throw bodyTooSlow(0, performance.now() - started, pace)
    }
    small.read = true
    small.onRead?.()
    return text
  } finally {
    clearTimeout(timer)
  }
}
