/** The one error type of Grid-X: a stable code, a message that says what to do, and whether retrying can help. */
export class GridError extends Error {
  /** Machine-readable code, e.g. `not_found`, `unauthorized`, `coordinator_unreachable`. */
  readonly code: string
  /** True when the same operation may succeed later without any change by the user. */
  readonly retryable: boolean
  /** HTTP status used when this error crosses the API. */
  readonly status: number
  /** Seconds to wait before trying again, sent as `Retry-After` (a 429's). */
  readonly retryAfterS: number | undefined

  constructor(
    code: string,
    message: string,
    opts: { retryable?: boolean; cause?: unknown; status?: number; retryAfterS?: number } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'GridError'
    this.code = code
    this.retryable = opts.retryable ?? false
    this.status = opts.status ?? 400
    this.retryAfterS = opts.retryAfterS
  }
}

/** Compile-time exhaustiveness check for `switch` over a union. */
export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`)
}

/** A short description of any thrown value, for logs. */
export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
