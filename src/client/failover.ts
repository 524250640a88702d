import { GridError } from '../errors'
import type { CoordinatorAddress } from './address'
import { expandNames, type Resolver } from './address-list'
import { classifySocketError } from './socket-failure'
import type { Trust } from './trust'

/** One coordinator address a client may use, and what it trusts there. */
export interface Endpoint {
  addr: CoordinatorAddress
  /** The API URL of the address as the user named it (before a name became its records): what the login is saved under. */
  key: string
  trust?: Trust | undefined
  /** True while a pin from a token (or a user's yes) has not been checked against this address yet. */
  pinUnchecked: boolean
  /** True once this address gave an HTTP answer: TLS and the address are known to work. */
  reached: boolean
}

/** Errors of attempts that never sent the request: a refused or unroutable connection, a name that did not resolve. */
const unsent = new WeakSet<object>()

/** Marks `wrapped` (the error a failed `fetch` became) as one whose request never left when `raw` says so. */
export function noteUnsent(raw: unknown, wrapped: GridError): GridError {
  const kind = classifySocketError(raw).kind
  if (kind === 'refused' || kind === 'unresolved' || kind === 'unreachable') unsent.add(wrapped)
  return wrapped
}

/**
 * Whether a failed call may be tried at the next coordinator. Only failures of the address
 * itself move on: no connection, a reset or timeout, a gateway's 502/503/504. A request that is
 * not idempotent (a job submission, a grant) moves on only when it provably never reached a
 * coordinator (the connection was refused, the name did not resolve) or one said 503 (it did
 * not take it): after a timeout or a reset it may have been taken, and sending it again could
 * run the job twice, so that error goes to the user instead.
 */
export function mayTryNext(err: unknown, idempotent: boolean): boolean {
  if (!(err instanceof GridError)) return false
  const gateway = err.status === 502 || err.status === 503 || err.status === 504
  if (err.code !== 'coordinator_unreachable' && !gateway) return false
  if (idempotent) return true
  return unsent.has(err) || err.status === 503
}

/** An error a coordinator itself answered with (a JSON body), not a failure to reach it. */
function answered(err: unknown): err is GridError {
  return (
    err instanceof GridError &&
    err.status >= 502 &&
    err.status <= 504 &&
    err.code !== 'coordinator_unreachable'
  )
}

/**
 * One error for a call no coordinator of the list took: each address with its own cause. When
 * every one answered the same refusal (their shared database is away: 503 database_unreachable),
 * that refusal itself, since "none answered" would send the user looking for a dead server.
 */
export function noneAnswered(failures: readonly { addr: CoordinatorAddress; err: unknown }[]): GridError {
  const errs = failures.map((f) => f.err)
  const last = errs.at(-1)
  if (answered(last) && errs.every((e) => answered(e) && e.code === last.code)) {
    const who = failures.length === 2 ? 'both coordinators' : `all ${failures.length} coordinators`
    return new GridError(last.code, `${who} answered: ${last.message}`, {
      status: last.status,
      retryable: last.retryable,
      cause: last,
    })
  }
  const lines = failures.map(
    (f) => `  ${f.addr.httpUrl}: ${f.err instanceof Error ? f.err.message : String(f.err)}`,
  )
  return new GridError(
    'no_coordinator_answers',
    `none of the ${failures.length} coordinators answered:\n${lines.join('\n')}\nCheck that 'gridx serve' runs on at least one of them ('gridx doctor' checks each)`,
    { retryable: true, cause: failures.at(-1)?.err },
  )
}

/**
 * The addresses of a client, in the order it tries them: it stays with the one that answered
 * last (sticky), so a healthy grid does not bounce between coordinators, and moves to the next
 * in the list when that one fails.
 */
export class EndpointList {
  private list: Endpoint[]
  private at = 0
  private expanded: Promise<void> | undefined

  constructor(
    endpoints: Endpoint[],
    /** The address (its API URL) that answered last time, tried first. */
    private readonly preferred?: string,
    private readonly resolve?: Resolver,
  ) {
    if (endpoints.length === 0) throw new GridError('bad_coordinator', 'no coordinator address given')
    this.list = endpoints
    this.prefer(preferred)
  }

  /** The address in use. */
  get current(): Endpoint {
    return this.list[this.at]!
  }

  /** Its place in the list. */
  get index(): number {
    return this.at
  }

  /** Every address, in list order. */
  get all(): readonly Endpoint[] {
    return this.list
  }

  /** Uses this address (by API URL) from now on, when it is one of the list. */
  prefer(httpUrl: string | undefined): void {
    const i = this.list.findIndex((e) => e.addr.httpUrl === httpUrl)
    if (i >= 0) this.at = i
  }

  /** Uses the address at `i` from now on. */
  use(i: number): void {
    this.at = ((i % this.list.length) + this.list.length) % this.list.length
  }

  /** Names with several A/AAAA records become one address per record, once, before the first call. */
  expand(): Promise<void> {
    this.expanded ??= (async () => {
      const next: Endpoint[] = []
      let at = 0
      for (const [i, e] of this.list.entries()) {
        if (i === this.at) at = next.length
        for (const addr of await expandNames([e.addr], this.resolve)) next.push({ ...e, addr })
      }
      this.list = next
      this.at = at
      // The address that answered last time may be one record of a name: it goes first again.
      this.prefer(this.preferred)
    })()
    return this.expanded
  }
}
