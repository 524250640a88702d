/** What `untilAborted` resolves to when the signal fired first. */
export const ABORTED: unique symbol = Symbol('aborted')

/**
 * `p`'s value, or `ABORTED` as soon as `signal` fires: the caller stops waiting at once, whatever
 * `p` (shared with other jobs, or cleaning up) goes on doing.
 */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T | typeof ABORTED> {
  if (!signal) return p
  if (signal.aborted) return Promise.resolve(ABORTED)
  return new Promise<T | typeof ABORTED>((resolve, reject) => {
    const onAbort = () => resolve(ABORTED)
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}
