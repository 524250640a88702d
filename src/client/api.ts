import { GridError } from '../errors'
import type {
  AttemptView,
  AuditView,
  CreditsView,
  Health,
  InviteView,
  JobView,
  JobOutputEvent,
  MeView,
  NewInvite,
  OutputEvent,
  Registered,
  Session,
  UploadView,
  WorkerView,
  CreateInvite,
  Credentials,
  GrantRequest,
  RegisterRequest,
  SubmitJob,
  ArrayView,
  SubmittedArray,
} from '../protocol/api'
import {
  type Answer,
  bySchema,
  ERROR,
  JOB,
  KNOWN_EVENTS,
  OUTPUT_EVENT,
  read,
  UPLOAD,
  WORKERS,
} from './answers'
import type { ReceiptFile } from '../protocol/receipt'
import type { CoordinatorAddress } from './address'
import { connectionError, networkError, proxyError } from './network'
import { pinServedCertificate, type TrustedCa, type Trust, tlsOptions } from './trust'
import { fetchProxy, NO_PROXY_SETTINGS, type ProxySettings, type Route, routeFor } from './proxy'
import { forwardProxyStatus } from './proxy-errors'
import { type Endpoint, EndpointList, mayTryNext, noneAnswered, noteUnsent } from './failover'
import { StreamBody } from './stream-body'

/** Which of the caller's jobs `ApiClient.jobs` asks for (`GET /api/jobs`'s query). */
export interface JobsQuery {
  limit?: number
  /** Only these states; all of them when absent. */
  states?: readonly string[]
  /** A glob on the job's name (`*`, `?`). */
  name?: string
  /** Labels every job listed carries. */
  labels?: Readonly<Record<string, string>>
  /** Everyone's jobs, not only the caller's (operators only: `all=1`). */
  everyone?: boolean
}
export type { TrustedCa } from './trust'

/** A worker's transfer of job files gives up after this long, so a stalled connection cannot hold a slot forever. */
const TRANSFER_TIMEOUT_MS = 30 * 60_000

/**
 * The longest an output stream may stay silent: a coordinator sends a keepalive line at least
 * every 15 s, so a stream quiet for longer has lost its coordinator (a machine off, a cut link).
 */
const STREAM_SILENCE_MS = 40_000

/** The error for a stream that went silent past `STREAM_SILENCE_MS`: a caller may resume it elsewhere. */
function silentStream(addr: { host: string; httpPort: number }): GridError {
  return new GridError(
    'coordinator_unreachable',
    `the coordinator at ${addr.host}:${addr.httpPort} went silent: nothing, not even a keepalive, for ${STREAM_SILENCE_MS / 1000} s (its machine or the network may be down)`,
    { retryable: true },
  )
}

/** Milliseconds an ordinary API call may take before it is reported as timed out. */
const CALL_TIMEOUT_MS = 15_000

function leasePath(lease: { jobId: string; attempt: number }): string {
  return `/api/leases/${encodeURIComponent(lease.jobId)}/${lease.attempt}`
}

/** A typed client of the coordinator's HTTP API; with several addresses, it moves on when one fails. */
export class ApiClient {
  /** The addresses, in the order they are tried (the one that answered last first). */
  readonly endpoints: EndpointList
  /** Called when a call was answered by another address than the last answer came from (sticky order). */
  onAnswered: ((addr: CoordinatorAddress) => void) | undefined
  private lastAnswered: string | undefined

  constructor(
    /** One address, or a list of them (`--coordinator a,b,c`) with their trust each. */
    target: CoordinatorAddress | EndpointList,
    private token?: string,
    /** What to trust for https besides the system's CAs: a private CA, a pinned certificate. */
    trusted?: Trust,
    /** True when the pin came from a token or a user, not a login: check it before the first call. */
    pinUnchecked = false,
    /** HTTPS_PROXY / HTTP_PROXY / NO_PROXY, as config read them. */
    readonly proxy: ProxySettings = NO_PROXY_SETTINGS,
  ) {
    this.endpoints =
      target instanceof EndpointList
        ? target
        : new EndpointList([
            { addr: target, key: target.httpUrl, trust: trusted, pinUnchecked, reached: false },
          ])
  }

  /** The address in use: the one that answered last, or the first of the list. */
  get addr(): CoordinatorAddress {
    return this.endpoints.current.addr
  }

  /** True once any call got an HTTP answer: the address is right, so a later failure may pass. */
  get reached(): boolean {
    return this.endpoints.all.some((e) => e.reached)
  }

  /** How calls reach the coordinator: through which proxy, or direct and why. */
  route(addr: CoordinatorAddress = this.addr): Route {
    return routeFor(this.proxy, addr.httpUrl)
  }

  /** What this client trusts; after `settleTrust`, with the pinned certificate's chain anchor. */
  get trust(): Trust | undefined {
    return this.endpoints.current.trust
  }

  /**
   * Reads the coordinator's certificate once and pins it when a pin from a token (or a user's yes)
   * is not yet checked: refused with both fingerprints when it is another certificate.
   */
  async settleTrust(): Promise<void> {
    await this.endpoints.expand()
    await this.settle(this.endpoints.current)
  }

  /** The trust of one address (its pin checked first, as `settleTrust`): what a worker socket there uses. */
  async trustOf(ep: Endpoint): Promise<Trust | undefined> {
    await this.settle(ep)
    return ep.trust
  }

  private async settle(ep: Endpoint): Promise<void> {
    const pin = ep.trust?.pin
    if (!ep.pinUnchecked || !pin || !ep.addr.tls) return
    const route = this.route(ep.addr)
    const proxy = route.kind === 'proxy' ? route.proxy : undefined
    ep.trust = {
      ...ep.trust,
      pin: await pinServedCertificate(ep.addr.host, ep.addr.httpPort, pin.fingerprint, proxy),
    }
    ep.pinUnchecked = false
  }

  /** The CA file trusted for this coordinator, if any. */
  get ca(): TrustedCa | undefined {
    return this.trust?.ca
  }

  /** Uses this token for later calls. */
  setToken(token: string): void {
    this.token = token
  }

  /** `GET /health`. */
  health(): Promise<Health> {
    return this.call(
      'GET',
      '/health',
      bySchema((s) => s.Health),
    )
  }

  /** Creates an account (with an invite code when the coordinator admits by invite). */
  register(req: RegisterRequest): Promise<Registered> {
    return this.call(
      'POST',
      '/api/auth/register',
      bySchema((s) => s.Registered),
      req,
    )
  }

  /** Who the token belongs to, and whether they are an operator. */
  me(): Promise<MeView> {
    return this.call(
      'GET',
      '/api/me',
      bySchema((s) => s.MeView),
    )
  }

  /** Makes an invite (operators only); its code is in the answer and nowhere else. */
  createInvite(req: CreateInvite): Promise<NewInvite> {
    return this.call(
      'POST',
      '/api/invites',
      bySchema((s) => s.NewInvite),
      req,
    )
  }

  /** Every invite, newest first (operators only). */
  invites(): Promise<InviteView[]> {
    return this.call(
      'GET',
      '/api/invites',
      bySchema((s) => s.InviteView.array()),
    )
  }

  /** Revokes an invite (operators only). */
  revokeInvite(id: string): Promise<InviteView> {
    return this.call(
      'POST',
      `/api/invites/${encodeURIComponent(id)}/revoke`,
      bySchema((s) => s.InviteView),
      undefined,
      true,
    )
  }

  /** Logs in; the client uses the new token from now on. */
  async login(creds: Credentials): Promise<Session> {
    // Logging in twice only makes a second token: it may go to the next coordinator.
    const session = await this.call(
      'POST',
      '/api/auth/login',
      bySchema((s) => s.Session),
      creds,
      true,
    )
    this.token = session.token
    return session
  }

  /** Revokes the current token. */
  async logout(): Promise<void> {
    await this.call('POST', '/api/auth/logout', undefined, undefined, true)
  }

  /** Submits a job. */
  submit(job: SubmitJob): Promise<JobView> {
    // Not idempotent: sent again after a timeout it could queue (and bill) the job twice, so it
    // moves to another coordinator only when none got it (see mayTryNext).
    return this.call('POST', '/api/jobs', JOB, job)
  }

  // --- Arrays (issue 17) ---
  /** Submits an array (`job.array` set): one request makes every member. */
  submitArray(job: SubmitJob): Promise<SubmittedArray> {
    return this.call(
      'POST',
      '/api/jobs',
      bySchema((s) => s.SubmittedArray),
      job,
    )
  }

  /** One of the caller's arrays: counts by state and every member. */
  array(id: string): Promise<ArrayView> {
    return this.call(
      'GET',
      `/api/arrays/${encodeURIComponent(id)}`,
      bySchema((s) => s.ArrayView),
    )
  }

  /** Cancels the members of an array that have not ended. */
  cancelArray(id: string): Promise<ArrayView> {
    return this.call(
      'POST',
      `/api/arrays/${encodeURIComponent(id)}/cancel`,
      bySchema((s) => s.ArrayView),
      undefined,
      true,
    )
  }

  /** The caller's newest jobs (everyone's, for an operator, with `everyone`): `limit` of them, or those a query selects (states, name glob, labels). */
  jobs(query: number | JobsQuery = 50): Promise<JobView[]> {
    const q = typeof query === 'number' ? { limit: query } : query
    const params = new URLSearchParams({ limit: String(q.limit ?? 50) })
    if (q.states?.length) params.set('state', q.states.join(','))
    if (q.name !== undefined) params.set('name', q.name)
    for (const [k, v] of Object.entries(q.labels ?? {})) params.append('label', `${k}=${v}`)
    if (q.everyone) params.set('all', '1')
    return this.call(
      'GET',
      `/api/jobs?${params.toString()}`,
      bySchema((s) => s.JobView.array()),
    )
  }

  /** One of the caller's jobs. */
  job(id: string): Promise<JobView> {
    return this.call('GET', `/api/jobs/${encodeURIComponent(id)}`, JOB)
  }

  /** Every attempt of one of the caller's jobs. */
  attempts(id: string): Promise<AttemptView[]> {
    return this.call(
      'GET',
      `/api/jobs/${encodeURIComponent(id)}/attempts`,
      bySchema((s) => s.AttemptView.array()),
    )
  }

  /** The worker's signed receipt of a job's result. */
  async receipt(id: string): Promise<ReceiptFile> {
    // The receipt module (node:crypto, tweetnacl) loads only for the command that asks for one.
    const { ReceiptFile } = await import('../protocol/receipt')
    return this.call(
      'GET',
      `/api/jobs/${encodeURIComponent(id)}/receipt`,
      bySchema(() => ReceiptFile),
    )
  }

  /** Cancels one of the caller's jobs. */
  cancel(id: string): Promise<JobView> {
    return this.call('POST', `/api/jobs/${encodeURIComponent(id)}/cancel`, JOB, undefined, true)
  }

  /** Balance, escrow and a page of history (older pages with `before`). */
  credits(limit = 20, before?: number): Promise<CreditsView> {
    const q = `limit=${limit}${before === undefined ? '' : `&before=${before}`}`
    return this.call(
      'GET',
      `/api/credits?${q}`,
      bySchema((s) => s.CreditsView),
    )
  }

  /** Mints credits to a user (operators only). */
  async grant(req: GrantRequest): Promise<void> {
    await this.call('POST', '/api/credits/grant', undefined, req)
  }

  /** The ledger invariant (operators only). */
  audit(): Promise<AuditView> {
    return this.call(
      'GET',
      '/api/credits/audit',
      bySchema((s) => s.AuditView),
    )
  }

  /** Connected workers. */
  workers(): Promise<WorkerView[]> {
    return this.call('GET', '/api/workers', WORKERS)
  }

  /** Uploads an archive of input files (whole, or streamed as it is packed); a submission then names it by its digest. */
  async upload(archive: Uint8Array | StreamBody): Promise<UploadView> {
    // Stored by its digest: the same archive sent twice is one upload.
    const res = await this.send('POST', '/api/uploads', archive, undefined, false, true)
    return this.parse(res, UPLOAD)
  }

  /** The archive of the files a job left under /out. */
  async outputs(id: string): Promise<Uint8Array> {
    const res = await this.send(
      'GET',
      `/api/jobs/${encodeURIComponent(id)}/outputs`,
      undefined,
      undefined,
      false,
    )
    return new Uint8Array(await res.arrayBuffer())
  }

  /** A worker fetches the input archive of a job it holds the lease on. */
  async leaseInputs(lease: { jobId: string; attempt: number }): Promise<Uint8Array> {
    const res = await this.send(
      'GET',
      `${leasePath(lease)}/inputs`,
      undefined,
      AbortSignal.timeout(TRANSFER_TIMEOUT_MS),
      false,
    )
    return new Uint8Array(await res.arrayBuffer())
  }

  /** A worker uploads the /out archive of a job it holds the lease on. */
  async putLeaseOutputs(lease: { jobId: string; attempt: number }, archive: Uint8Array): Promise<void> {
    await this.send(
      'PUT',
      `${leasePath(lease)}/outputs`,
      archive,
      AbortSignal.timeout(TRANSFER_TIMEOUT_MS),
      false,
    )
  }

  /** Streams a job's output events; with `follow`, until the job ends. */
  async *output(id: string, follow: boolean, signal?: AbortSignal): AsyncGenerator<JobOutputEvent> {
    const res = await this.send(
      'GET',
      `/api/jobs/${encodeURIComponent(id)}/output?follow=${follow ? 1 : 0}`,
      undefined,
      signal,
      false,
    )
    if (!res.body) return
    const decoder = new TextDecoder()
    let buffered = ''
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>
      let silence: ReturnType<typeof setTimeout> | undefined
      try {
        // A coordinator whose machine went off closes nothing: only its silence tells.
        const silent = new Promise<never>((_, reject) => {
          silence = setTimeout(() => reject(silentStream(this.addr)), STREAM_SILENCE_MS)
        })
        chunk = await Promise.race([reader.read(), silent])
      } catch (err) {
        // Whatever ended the read, the connection under it is given up (a silent one is not closed yet).
        void reader.cancel().catch(() => undefined)
        if (signal?.aborted) throw err
        // The coordinator went away mid-stream (restart, network): a caller may resume, at the
        // next address first (with one address, the same one again).
        const lost = this.addr
        this.endpoints.use(this.endpoints.index + 1)
        throw err instanceof GridError ? err : networkError(err, lost, lost.httpPort)
      } finally {
        clearTimeout(silence)
      }
      if (chunk.done) return
      buffered += decoder.decode(chunk.value, { stream: true })
      let nl: number
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        if (!line.trim()) continue
        const event = await outputEvent(line)
        // Keepalives only keep proxies from closing a quiet stream; unknown events are newer
        // coordinators' additions, which this client does not need.
        if (event && event.type !== 'keepalive') yield event
      }
    }
  }

  private async call<T>(
    method: string,
    path: string,
    answer?: Answer<T>,
    body?: unknown,
    idempotent?: boolean,
  ): Promise<T> {
    const res = await this.send(method, path, body, undefined, true, idempotent)
    if (!answer || res.status === 204) return undefined as T
    return this.parse(res, answer)
  }

  private async parse<T>(res: Response, answer: Answer<T>): Promise<T> {
    const r = await read(answer, await res.json().catch(() => undefined))
    if (!r.success) {
      throw new GridError(
        'bad_response',
        `the coordinator at ${this.addr.httpUrl} sent an answer this client does not understand: is it a Grid-X coordinator of the same version?`,
      )
    }
    return r.data
  }

  private async send(
    method: string,
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
    timeout: boolean,
    idempotent = method !== 'POST',
  ): Promise<Response> {
    await this.endpoints.expand()
    const list = this.endpoints
    const n = list.all.length
    const first = list.index
    const failures: { addr: CoordinatorAddress; err: unknown }[] = []
    for (let k = 0; ; k++) {
      const ep = list.all[(first + k) % n]!
      try {
        const res = await this.sendTo(ep, method, path, body, signal, timeout)
        list.use((first + k) % n)
        if (this.lastAnswered !== ep.addr.httpUrl) {
          this.lastAnswered = ep.addr.httpUrl
          this.onAnswered?.(ep.addr)
        }
        return res
      } catch (err) {
        if (signal?.aborted || n === 1 || !mayTryNext(err, idempotent)) throw err
        failures.push({ addr: ep.addr, err })
        // The next call starts at the next address too: this one just failed.
        list.use((first + k + 1) % n)
        if (k === n - 1) throw noneAnswered(failures)
      }
    }
  }

  /** One attempt at one address. */
  private async sendTo(
    ep: Endpoint,
    method: string,
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
    timeout: boolean,
  ): Promise<Response> {
    const addr = ep.addr
    const headers: Record<string, string> = {}
    if (this.token) headers['authorization'] = `Bearer ${this.token}`
    // One record of a name with several: the URL names the IP, the request the name (virtual hosts).
    if (addr.serverName) headers['host'] = `${addr.serverName}:${addr.httpPort}`
    const binary = body instanceof Uint8Array
    const stream = body instanceof StreamBody ? body : undefined
    if (body !== undefined)
      headers['content-type'] = stream ? stream.type : binary ? 'application/x-tar' : 'application/json'
    // A stream or a download has no overall deadline, but an address that never answers must
    // not hold it forever: without response headers in CALL_TIMEOUT_MS it counts as timed out.
    // (Not an upload: its answer comes only once the whole body is sent.)
    const answer = new AbortController()
    const noAnswer =
      timeout || body !== undefined
        ? undefined
        : setTimeout(() => answer.abort(new DOMException('no answer', 'TimeoutError')), CALL_TIMEOUT_MS)
    const signals = [
      signal,
      answer.signal,
      timeout ? AbortSignal.timeout(CALL_TIMEOUT_MS) : undefined,
    ].filter((s) => s !== undefined)
    await this.settle(ep)
    const route = this.route(addr)
    const tls = ep.trust || addr.serverName ? tlsOptions(ep.trust, addr.serverName) : undefined
    let res: Response
    try {
      res = await fetch(`${addr.httpUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : stream ? stream.open() : binary ? body : JSON.stringify(body),
        ...(stream ? { duplex: 'half' as const } : {}),
        signal: AbortSignal.any(signals),
        ...(tls ? { tls } : {}),
        ...fetchProxy(route),
      })
    } catch (err) {
      if (signal?.aborted) throw err
      // A stream this side broke (an input file changed) is said as such, not as a network failure.
      if (stream?.failure() !== undefined) throw stream.failure()
      const ctx = { caPath: ep.trust?.ca?.path, pin: ep.trust?.pin?.fingerprint, route }
      // Once the coordinator has answered, TLS is known to work: a later failure is the network's,
      // reported at once (a worker's pending report must not wait on a certificate lookup).
      throw noteUnsent(
        err,
        ep.reached
          ? networkError(err, addr, addr.httpPort, ctx)
          : await connectionError(err, addr, addr.httpPort, ctx),
      )
    } finally {
      clearTimeout(noAnswer)
    }
    ep.reached = true
    if (!res.ok) {
      const parsed = await read(ERROR, await res.json().catch(() => undefined))
      if (parsed.success) {
        throw new GridError(parsed.data.error.code, parsed.data.error.message, { status: res.status })
      }
      // A forward proxy (plain-http coordinator) answers for itself with a page, not JSON.
      if (route.kind === 'proxy' && !addr.tls)
        throw forwardProxyStatus(route.proxy, addr, res.status, res.statusText)
      if (res.status === 502 || res.status === 503 || res.status === 504) throw proxyError(addr, res.status)
      if (res.status === 429) {
        const wait = res.headers.get('retry-after')
        throw new GridError(
          'too_many_attempts',
          `${addr.httpUrl} is refusing requests for now (HTTP 429): ${wait ? `wait ${wait} s and try again` : 'wait a minute and try again'}`,
          { status: 429, retryable: true },
        )
      }
      throw new GridError(
        'http_error',
        `${method} ${addr.httpUrl}${path} answered HTTP ${res.status}: is this a Grid-X coordinator?`,
        { status: res.status },
      )
    }
    return res
  }
}

/**
 * One NDJSON line of an output stream: undefined for an event type this client does not know
 * (a later release may add some), an error for a known one it cannot read.
 */
export async function outputEvent(line: string): Promise<OutputEvent | undefined> {
  let json: unknown
  try {
    json = JSON.parse(line)
  } catch {
    throw new GridError(
      'bad_stream',
      `the coordinator sent an output line that is not JSON: ${line.slice(0, 100)}`,
    )
  }
  if (!KNOWN_EVENTS.has((json as { type?: unknown } | null)?.type)) return undefined
  const r = await read(OUTPUT_EVENT, json)
  if (!r.success) {
    const { z } = await import('zod')
    throw new GridError(
      'bad_stream',
      `the coordinator sent an output event this client cannot read: ${z.prettifyError(r.error)}`,
    )
  }
  return r.data
}
