import { join } from 'node:path'
import type { CommandModule } from 'yargs'
import { DEFAULT_HTTP_PORT, loadConfig } from '../config'
import { formatCredits, parseCredits } from '../protocol/credits'
import { assertNever, GridError } from '../errors'
import type { SignupMode } from '../protocol/api'
import { formatBytes, formatDuration, parseDuration, parseSize } from '../protocol/units'
import { note } from './options'
import { advertiseServe } from './serve-lan'
import { caFileHint, clientAddress, parsePublicUrl, serveTls, type TlsFlags } from './serve-tls'
import { adoptStartInvite, joinHints, joinUrls, startInvite } from './serve-join'

type Flags = TlsFlags & {
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
  idleTimeout?: string
  minUploadRate?: string
  advertise?: boolean
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
  const { startCoordinator } = await import('../coordinator/server')
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
  note('coordinator stopped')
  return 0
}

/** yargs wiring of `gridx serve`. */
export function serveCommand(setExit: (code: number) => void): CommandModule<object, Flags> {
  return {
    command: 'serve',
    describe: 'run the coordinator: HTTP API, worker WebSocket, scheduler',
    builder: (y) =>
      y
        .option('host', { type: 'string', describe: 'address to bind (default 0.0.0.0: all interfaces)' })
        .option('http-port', {
          type: 'number',
          describe: 'HTTP API port (env GRIDX_HTTP_PORT, default 8081; 0 = any free)',
        })
        .option('ws-port', {
          type: 'number',
          describe: 'worker WebSocket port (env GRIDX_WS_PORT, default 8080; 0 = any free)',
        })
        .option('data-dir', {
          type: 'string',
          describe: 'where the database lives (default $GRIDX_HOME/coordinator)',
        })
        .option('tls-cert', {
          type: 'string',
          describe:
            'serve HTTPS and WSS with this PEM certificate (chain) on both ports (env GRIDX_TLS_CERT)',
        })
        .option('tls-key', {
          type: 'string',
          describe: "the certificate's PEM private key (env GRIDX_TLS_KEY)",
        })
        .option('self-signed', {
          type: 'boolean',
          describe: 'quick start: make (once) and serve a self-signed certificate kept in the data dir',
        })
        .option('tls-san', {
          type: 'string',
          array: true,
          describe: 'extra host names or addresses for the --self-signed certificate',
        })
        .option('public-url', {
          type: 'string',
          describe:
            'the address users and workers reach this coordinator at, e.g. behind a proxy (env GRIDX_PUBLIC_URL)',
        })
        .option('database', {
          type: 'string',
          describe:
            "the grid's shared PostgreSQL, postgres://USER:PASSWORD@HOST:PORT/DB: every coordinator started with it is one grid (env GRIDX_DATABASE_URL; default: SQLite in the data dir)",
        })
        .option('blob-dir', {
          type: 'string',
          describe:
            'keep job files (inputs, /out archives) in this directory; with several coordinators, one they all mount (env GRIDX_BLOB_DIR; default: in the database when it is PostgreSQL, else DATA_DIR/blobs)',
        })
        .option('lease-timeout', {
          type: 'string',
          describe: 'how long a job lease lives without heartbeats (default 30s)',
        })
        .option('heartbeat', {
          type: 'string',
          describe: 'how often workers heartbeat, the shortest interval (default 5s)',
        })
        .option('max-heartbeats', {
          type: 'string',
          describe:
            'heartbeats per second all workers together are kept under: past it each worker is told to beat less often, up to every 60s (env GRIDX_MAX_HEARTBEATS, default 500)',
        })
        .option('max-attempts', {
          type: 'number',
          describe: 'tries a job gets when workers are lost under it (default 3)',
        })
        .option('grant', { type: 'string', describe: 'credits a new account starts with (default 100)' })
        .option('price', { type: 'string', describe: 'credits per CPU-minute of compute (default 1)' })
        .option('log-limit', {
          type: 'string',
          describe: 'most stdout+stderr per job, e.g. 16m; past it the job is stopped (default 16m)',
        })
        .option('max-input', { type: 'string', describe: 'largest input upload per job (default 512m)' })
        .option('max-output', { type: 'string', describe: 'most /out files a job may return (default 512m)' })
        .option('keep-files', {
          type: 'string',
          describe: "how long uploaded inputs, and a job's /out files after it ends, are kept (default 7d)",
        })
        .option('quota', {
          type: 'string',
          describe:
            'storage each user may keep here: uploads and /out files not yet expired (env GRIDX_QUOTA, default 2g)',
        })
        .option('idle-timeout', {
          type: 'string',
          describe:
            'close HTTP connections idle this long, and give every request body this long before --min-upload-rate applies (default 30s, at most 255s)',
        })
        .option('min-upload-rate', {
          type: 'string',
          describe:
            'slowest average rate per second a request body may arrive at, e.g. 32k; slower ones get 408 (default 32k)',
        })
        .option('admin', {
          type: 'string',
          array: true,
          describe:
            'operator account(s) besides the first registered; existing accounts only, decided at each start',
        })
        .option('signup', {
          type: 'string',
          choices: ['invite', 'open', 'closed'],
          describe:
            "who may create accounts after the first: invite (a code from 'gridx invite'), open (anyone who can reach the port) or closed (env GRIDX_SIGNUP, default invite)",
        })
        .option('advertise', {
          type: 'boolean',
          describe:
            'advertise on the local network (mDNS, UDP 5353) so `gridx work` finds it without an address (default on; --no-advertise or env GRIDX_DISCOVERY=0 to stop)',
        })
        .example('$0 serve', 'serve on 0.0.0.0:8081 (API) and :8080 (workers)')
        .example('$0 serve --http-port 9081 --ws-port 9080 --data-dir /var/lib/gridx', '')
        .example('$0 serve --tls-cert /etc/gridx/cert.pem --tls-key /etc/gridx/key.pem', 'HTTPS and WSS')
        .example('$0 serve --self-signed', 'HTTPS with a certificate made for this machine')
        .example('$0 serve --signup open', 'anyone who can reach the port may create an account'),
    handler: async (a) => setExit(await serve(a)),
  }
}
