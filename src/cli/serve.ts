import { join } from 'node:path'
import { DEFAULT_HTTP_PORT, loadConfig } from '../config'
import { formatCredits, parseCredits } from '../protocol/credits'
import { assertNever, GridError } from '../errors'
import type { SignupMode } from '../protocol/api'
import { formatBytes, formatDuration, parseDuration, parseSize } from '../protocol/units'
import { note } from './options'
import { advertiseServe } from './serve-lan'
import { caFileHint, clientAddress, parsePublicUrl, serveTls, type TlsFlags } from './serve-tls'
import { adoptStartInvite, joinHints, joinUrls, startInvite } from './serve-join'

/** The largest `--max-array` accepted: one submission's rows and escrow in one transaction. */
const MAX_ARRAY_LIMIT = 100_000

/** The flags yargs parses for this command. */
export type Flags = TlsFlags & {
  tlsCert?: string
  tlsKey?: string
  publicUrl?: string
  database?: string
  blobDir?: string
  host?: string
  httpPort?: number
  wsPort?: number
  dataDir?: string
  leaseTimeout?: string
  heartbeat?: string
  maxHeartbeats?: string
  grant?: string
  price?: string
  admin?: string[]
  signup?: string
  maxAttempts?: number
  logLimit?: string
  maxInput?: string
  maxOutput?: string
  keepFiles?: string
  quota?: string
  maxArray?: string
  idleTimeout?: string
  minUploadRate?: string
  advertise?: boolean
  logFormat?: string
  logRequests?: boolean
  metricsTokenFile?: string
}

/** What `--signup` means for this coordinator, said once at start. */
function signupNote(mode: SignupMode, grantMc: number): string {
  switch (mode) {
    case 'invite':
      return "sign-up: by invite: after the first account (the operator), new accounts need a code from 'gridx invite' (--signup open|closed to change)"
    case 'open':
      return `sign-up: OPEN: anyone who can reach this port can create accounts with ${formatCredits(grantMc)} credits each (--signup invite admits only those an operator invites)`
    case 'closed':
      return 'sign-up: closed: no accounts are created after the first (--signup invite to admit people by invite)'
    default:
      return assertNever(mode)
  }
}

/** Calls `on` for every SIGINT/SIGTERM until the returned function is called. */
export function onStopSignals(on: (sig: string) => void): () => void {
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((sig) => [sig, () => on(sig)] as const)
  for (const [sig, h] of handlers) process.on(sig, h)
  return () => {
    for (const [sig, h] of handlers) process.off(sig, h)
  }
}

/** Resolves when the process is asked to stop. */
export function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve(sig))
  })
}

/** The heartbeat budget as given (`--max-heartbeats`), checked; undefined for the default. */
function heartbeatBudget(text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1 || n > 100_000) {
    throw new GridError(
      'bad_heartbeats',
      `--max-heartbeats '${text}' must be a whole number of heartbeats per second from 1 to 100000 (default 500)`,
    )
  }
  return n
}

/** `gridx serve`: run the coordinator until SIGINT/SIGTERM. */
export async function serve(flags: Flags, until: Promise<string> = stopSignal()): Promise<number> {
  // The binary starts with the JIT held back for short commands (scripts/build.ts); a coordinator
  // runs for months, so its hot paths compile as usual.
  Bun.unsafe.setJITPolicy(1)
  const config = loadConfig(flags)
  const dataDir = flags.dataDir ?? config.file.dataDir ?? join(config.home, 'coordinator')
  const host = flags.host ?? config.file.host ?? '0.0.0.0'
  const leaseMs = flags.leaseTimeout ? parseDuration(flags.leaseTimeout, '--lease-timeout') : undefined
  const heartbeatMs = flags.heartbeat ? parseDuration(flags.heartbeat, '--heartbeat') : undefined
  const heartbeatsPerSecond = heartbeatBudget(config.maxHeartbeats)
  const keepFilesMs = flags.keepFiles ? parseDuration(flags.keepFiles, '--keep-files') : undefined
  const idleTimeoutMs = flags.idleTimeout ? parseDuration(flags.idleTimeout, '--idle-timeout') : undefined
  if (idleTimeoutMs !== undefined && (idleTimeoutMs < 1000 || idleTimeoutMs > 255_000)) {
    throw new GridError(
      'bad_duration',
      `--idle-timeout ${flags.idleTimeout} must be from 1s to 255s (the most Bun's HTTP server allows)`,
    )
  }
  const grant = flags.grant === undefined ? undefined : parseCredits(flags.grant)
  if (flags.grant !== undefined && grant === undefined) {
    throw new GridError(
      'bad_amount',
      `--grant '${flags.grant}' is not an amount of credits: use a number such as 100 or 2.5`,
    )
  }
  if (
    flags.maxAttempts !== undefined &&
    (!Number.isInteger(flags.maxAttempts) || flags.maxAttempts < 1 || flags.maxAttempts > 100)
  ) {
    throw new GridError(
      'bad_attempts',
      `--max-attempts ${flags.maxAttempts} must be a whole number from 1 to 100`,
    )
  }
  const maxArray = config.maxArray === undefined ? undefined : Number(config.maxArray)
  if (maxArray !== undefined && (!Number.isInteger(maxArray) || maxArray < 1 || maxArray > MAX_ARRAY_LIMIT)) {
    throw new GridError(
      'bad_max_array',
      `--max-array ${config.maxArray} must be a whole number from 1 to ${MAX_ARRAY_LIMIT} (the most jobs one --array submission may make)`,
    )
  }
  const price = flags.price === undefined ? undefined : parseCredits(flags.price)
  if (flags.price !== undefined && !price) {
    throw new GridError(
      'bad_amount',
      `--price '${flags.price}' is not a price: use credits per CPU-minute, such as 1 or 0.5`,
    )
  }
  const publicUrl = parsePublicUrl(config.publicUrl)
  const { tls, notes } = await serveTls(config, flags, dataDir)
  const size = (text: string | undefined, flag: string) =>
    text === undefined ? undefined : parseSize(text, flag)
  const sizes = {
    outputCapBytes: size(flags.logLimit, '--log-limit'),
    maxInputBytes: size(flags.maxInput, '--max-input'),
    maxOutputBytes: size(flags.maxOutput, '--max-output'),
    quotaBytes: size(config.quota, '--quota'),
    minBodyRate: size(flags.minUploadRate, '--min-upload-rate'),
  }
  const { Logger } = await import('../coordinator/log')
  const logger = new Logger({ format: config.logFormat, requests: config.logRequests })
  const { startCoordinator } = await import('../coordinator/server')
  const { readMetricsToken } = await import('../coordinator/metrics/token')
  const mt = config.metricsTokenFile
  const metricsToken = mt ? readMetricsToken(mt.path, mt.from) : undefined
  const { redactUrl } = await import('../coordinator/store')
  const { newInviteCode } = await import('../coordinator/store/invite-rules')
  const { DEFAULT_SETTINGS } = await import('../coordinator/settings')
  const invite = startInvite(
    config.signup,
    grant ?? DEFAULT_SETTINGS.signupGrantMc,
    newInviteCode(),
    Date.now(),
  )
  const c = await startCoordinator({
    host,
    httpPort: config.httpPort,
    wsPort: config.wsPort,
    dataDir,
    tls,
    publicUrl,
    database: config.database,
    blobDir: config.blobDir,
    logger,
    metricsToken,
    settings: {
      ...(leaseMs ? { leaseMs } : {}),
      ...(heartbeatMs ? { heartbeatMs, silentMs: heartbeatMs * 4 } : {}),
      ...(heartbeatsPerSecond === undefined ? {} : { heartbeatsPerSecond }),
      ...(grant === undefined ? {} : { signupGrantMc: grant }),
      ...(price ? { price: { mcPerCpuMinute: price } } : {}),
      admins: flags.admin ?? [],
      signup: config.signup,
      firstInvite: invite,
      ...(flags.maxAttempts === undefined ? {} : { maxAttempts: flags.maxAttempts }),
      ...(maxArray === undefined ? {} : { maxArray }),
      ...(keepFilesMs ? { keepFilesMs } : {}),
      ...(idleTimeoutMs ? { idleTimeoutMs } : {}),
      ...Object.fromEntries(Object.entries(sizes).filter(([, v]) => v !== undefined)),
    },
  })
  const [http, ws] = tls ? ['https', 'wss'] : ['http', 'ws']
  note(
    `gridx coordinator listening: API ${http}://${host}:${c.httpPort} (GET /health), workers ${ws}://${host}:${c.wsPort}/ws/worker, data in ${dataDir}${config.database ? `, database ${redactUrl(config.database)} (PostgreSQL, shared by every coordinator of the grid)` : ''}, job files in ${c.blobs.where}`,
  )
  for (const line of notes) note(line)
  const addr = clientAddress({
    publicUrl,
    host,
    httpPort: c.httpPort,
    tls: !!tls,
    defaultHttpPort: DEFAULT_HTTP_PORT,
  })
  for (const line of joinHints({
    urls: joinUrls({ publicUrl, host, httpPort: c.httpPort, tls: !!tls }),
    tls,
    signup: c.settings.signup,
    hasUsers: await c.store.accounts.exist(),
    invite: await adoptStartInvite(c, invite, (line) => note(line)),
  }))
    note(line)
  const { flag, hint } = caFileHint(tls)
  note(`or by address: gridx login --coordinator ${addr}${flag} --user NAME (later commands need no flags)`)
  if (hint) note(hint)
  if (publicUrl)
    note(`public address: ${publicUrl} (shown in /health; web pages from it may open worker sockets)`)
  note(
    `metrics: GET /metrics (Prometheus) with ${mt ? `the token in ${mt.path} or ` : ''}an operator's login token${mt ? '' : ' (--metrics-token-file for a scrape token)'}`,
  )
  const settings = c.settings
  note(signupNote(settings.signup, settings.signupGrantMc))
  note(
    `credits: new accounts get ${formatCredits(settings.signupGrantMc)}${settings.signup === 'invite' ? ' unless their invite says otherwise' : ''}; compute costs ${formatCredits(settings.price.mcPerCpuMinute)} per CPU-minute`,
  )
  note(
    `files: each user may keep ${formatBytes(settings.quotaBytes)} of uploads and job /out files here (--quota), each for ${formatDuration(settings.keepFilesMs)} (--keep-files)`,
  )
  if (host === '127.0.0.1' || host === 'localhost' || host === '::1') {
    note('note: bound to loopback only; workers on other machines cannot connect (use --host 0.0.0.0)')
  }
  const lan = await advertiseServe(config.discovery, { host, httpPort: c.httpPort, tls, publicUrl })
  const sig = await until
  note(`received ${sig}; stopping the coordinator`)
  await lan?.stop()
  await c.stop()
  await logger.stop()
  note('coordinator stopped')
  return 0
}
