import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import type { CoordinatorAddress } from './client/address'
import { parseCoordinatorList } from './client/address-list'
import { type ProxySettings, proxySettings } from './client/proxy'
import { GridError } from './errors'
import { checkFileConfig, type FileConfig } from './config-check'
import { type LogFormat, logFormat, logRequests } from './config-log'
import type * as ConfigFile from './config-file'
import { SIGNUP_MODES, type SignupMode } from './protocol/signup'
import { type CertificateFile, readCertificateFile } from './tls/pem'

/** Ports from the system Grid-X replaces; existing users rely on them. */
export const DEFAULT_HTTP_PORT = 8081
/** Default worker WebSocket port. */
export const DEFAULT_WS_PORT = 8080

/** The flags every command that talks to a coordinator accepts. */
export interface ConnectionFlags {
  coordinator?: string | undefined
  /** `--context NAME`: the saved context (coordinator and account) this command uses. */
  context?: string | undefined
  httpPort?: number | undefined
  wsPort?: number | undefined
  user?: string | undefined
  password?: string | undefined
  /** `--ca-cert`: a PEM file of extra certificates to trust (a private CA, a self-signed coordinator). */
  caCert?: string | undefined
  /** `gridx serve --tls-cert` / `--tls-key`: the coordinator's own certificate and key files. */
  tlsCert?: string | undefined
  tlsKey?: string | undefined
  /** `gridx serve --public-url`: the address users and workers reach the coordinator at. */
  publicUrl?: string | undefined
  /** `gridx serve --database`: the grid's shared PostgreSQL. */
  database?: string | undefined
  /** `gridx serve --blob-dir`: where job files are kept, a directory every coordinator mounts. */
  blobDir?: string | undefined
  /** `gridx serve --quota`: storage each user may keep on the coordinator. */
  quota?: string | undefined
  /** `gridx serve --max-array`: the most members one array may have. */
  maxArray?: string | number | undefined
  /** `gridx serve --max-heartbeats`: the heartbeat budget, per second. */
  maxHeartbeats?: string | undefined
  /** `gridx serve --signup`: invite, open or closed. */
  signup?: string | undefined
  /** `gridx register --invite`: the code an operator gave. */
  invite?: string | undefined
  /** `gridx serve --advertise` / `--no-advertise`: mDNS on the local network. */
  advertise?: boolean | undefined
  /** `gridx work|register|login --join`: a join token (`gx1_…`). */
  join?: string | undefined
  /** `gridx serve --log-format`: text or json. */
  logFormat?: string | undefined
  /** `gridx serve --log-requests`: a log line per HTTP request. */
  logRequests?: boolean | undefined
  /** `gridx serve --metrics-token-file`: a file holding the bearer token Prometheus scrapes with. */
  metricsTokenFile?: string | undefined
}

/** Everything a command needs to know about where it runs, resolved once. */
export interface Config {
  home: string
  httpPort: number
  wsPort: number
  /** The coordinator named by flag or environment; undefined when neither did (see `coordinatorAddresses` for the rest of the order). */
  coordinator: string | undefined
  /** Which of the two named `coordinator`. */
  coordinatorFrom: 'flag' | 'env' | undefined
  /** The context named for this command (`--context`, GRIDX_CONTEXT), and which of the two named it. */
  context: { name: string; from: '--context' | 'GRIDX_CONTEXT' } | undefined
  user: string | undefined
  password: string | undefined
  /** Extra certificates every HTTPS/WSS connection trusts, read and checked at load (undefined: system roots only). */
  caCert: CertificateFile | undefined
  /** The coordinator's certificate and key file paths (`gridx serve`); checked when serving. */
  tlsCert: string | undefined
  tlsKey: string | undefined
  /** The address users and workers should use (`gridx serve --public-url`), as given. */
  publicUrl: string | undefined
  /**
   * The coordinator's database (`gridx serve --database`, GRIDX_DATABASE_URL): a PostgreSQL URL
   * shared by every coordinator of the grid; undefined for SQLite in the data directory.
   */
  database: string | undefined
  /**
   * Where job files (inputs, /out archives) are kept (`gridx serve --blob-dir`, GRIDX_BLOB_DIR), an
   * absolute path; undefined: in the database when it is PostgreSQL, else in the data directory.
   */
  blobDir: string | undefined
  /** Storage each user may keep on the coordinator (`gridx serve --quota`), as given (a size such as 2g). */
  quota: string | undefined
  /** The most members one array may have (`gridx serve --max-array`), as given. */
  maxArray: string | undefined
  /** Heartbeats per second all workers together are kept under (`gridx serve --max-heartbeats`), as given. */
  maxHeartbeats: string | undefined
  /** Who may create accounts after the first (`gridx serve`): by invite unless told otherwise. */
  signup: SignupMode
  /** The invite code to register with (`--invite`, GRIDX_INVITE). */
  invite: string | undefined
  /**
   * LAN discovery (mDNS): `gridx serve` advertises itself, and `work`/`login`/`register` with no
   * coordinator look for one; on unless `--no-advertise` (serve), GRIDX_DISCOVERY=0 or the file say no.
   */
  discovery: boolean
  /** The join token of `work`, `register` and `login` (`--join`, GRIDX_JOIN), as given. */
  join: string | undefined
  /** How `gridx serve` writes its log (`--log-format`, GRIDX_LOG_FORMAT): text unless told json. */
  logFormat: LogFormat
  /** A log line per HTTP request (`gridx serve --log-requests`, GRIDX_LOG_REQUESTS). */
  logRequests: boolean
  /** The file of `/metrics`' scrape token (`gridx serve --metrics-token-file`, GRIDX_METRICS_TOKEN_FILE) and which of the two named it. */
  metricsTokenFile: { path: string; from: string } | undefined
  /** HTTPS_PROXY / HTTP_PROXY / NO_PROXY (and lower case), parsed; every API call and worker socket uses them. */
  proxy: ProxySettings
  file: FileConfig
}

type Env = Record<string, string | undefined>

function port(value: string | number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined
  const text = String(value).trim()
  if (text === '') return undefined
  const n = Number(text)
  if (!/^\d{1,5}$/.test(text) || n > 65535) {
    throw new GridError(
      'bad_port',
      `${name} '${value}' is not a port: use a number from 1 to 65535 (0 picks any free port)`,
    )
  }
  return n
}

function signupMode(flags: ConnectionFlags, env: Env, file: FileConfig): SignupMode {
  const given = (
    [
      [flags.signup, '--signup'],
      [env['GRIDX_SIGNUP'], 'GRIDX_SIGNUP'],
    ] as const
  ).find(([v]) => v !== undefined && v.trim() !== '')
  if (!given) return file.signup ?? 'invite'
  const mode = SIGNUP_MODES.find((m) => m === given[0]!.trim().toLowerCase())
  if (!mode) {
    throw new GridError(
      'bad_signup',
      `${given[1]} '${given[0]}' is not a sign-up mode: use invite (new accounts need an invite), open (anyone who can reach the port) or closed (no one)`,
    )
  }
  return mode
}

function discovery(flags: ConnectionFlags, env: Env, file: FileConfig): boolean {
  if (flags.advertise !== undefined) return flags.advertise
  const text = env['GRIDX_DISCOVERY']?.trim().toLowerCase()
  if (text === undefined || text === '') return file.discovery ?? true
  if (['1', 'true', 'yes', 'on'].includes(text)) return true
  if (['0', 'false', 'no', 'off'].includes(text)) return false
  throw new GridError(
    'bad_discovery',
    `GRIDX_DISCOVERY '${env['GRIDX_DISCOVERY']}' is not on or off: use 1 or 0 (0: no mDNS, like serve --no-advertise)`,
  )
}

function readFileConfig(home: string): FileConfig {
  const path = join(home, 'config.json')
  if (!existsSync(path)) return {}
  let json: unknown
  try {
    json = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new GridError(
      'bad_config',
      `${path} is not valid JSON (${(err as Error).message}): fix or remove it`,
    )
  }
  const file = checkFileConfig(json)
  if (file) return file
  // Only a file the plain check refuses loads zod, whose schema words what is wrong. Synchronous
  // (every caller of loadConfig is), and the bundle evaluates the required module only here.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const schema = require('./config-file') as typeof ConfigFile
  const r = schema.parseFileConfig(json)
  if ('problem' in r) throw new GridError('bad_config', `${path}: ${r.problem}`)
  // Reached only if the two disagreed (test/unit/config-check.test.ts): the schema's word stands.
  return r.data
}

function caCert(
  flags: ConnectionFlags,
  env: Env,
  file: FileConfig,
  home: string,
): CertificateFile | undefined {
  const given = (
    [
      [flags.caCert, '--ca-cert'],
      [env['GRIDX_CA_CERT'], 'GRIDX_CA_CERT'],
      // A path in config.json is relative to the file's directory, not to wherever gridx runs.
      [file.caCert && resolve(home, file.caCert), `caCert in ${join(home, 'config.json')}`],
    ] as const
  ).find(([path]) => path)
  return given?.[0] ? readCertificateFile(given[0], given[1]) : undefined
}

function blobDir(flags: ConnectionFlags, env: Env, file: FileConfig, home: string): string | undefined {
  const given = flags.blobDir?.trim() || env['GRIDX_BLOB_DIR']?.trim()
  // A path in config.json is relative to the file's directory, not to wherever gridx runs.
  if (given) return resolve(given)
  return file.blobDir?.trim() ? resolve(home, file.blobDir.trim()) : undefined
}

function metricsTokenFile(flags: ConnectionFlags, env: Env): Config['metricsTokenFile'] {
  // Given but empty is a mistake the start reports, not the absence of a token file.
  if (flags.metricsTokenFile !== undefined)
    return { path: flags.metricsTokenFile, from: '--metrics-token-file' }
  const path = env['GRIDX_METRICS_TOKEN_FILE']
  return path === undefined ? undefined : { path, from: 'GRIDX_METRICS_TOKEN_FILE' }
}

function contextOf(flags: ConnectionFlags, env: Env): Config['context'] {
  const given = flags.context?.trim()
    ? { name: flags.context.trim(), from: '--context' as const }
    : env['GRIDX_CONTEXT']?.trim()
      ? { name: env['GRIDX_CONTEXT'].trim(), from: 'GRIDX_CONTEXT' as const }
      : undefined
  if (given && !/^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,99}$/.test(given.name)) {
    throw new GridError(
      'bad_context',
      `${given.from} '${given.name}' is not a context name: use letters, digits and . _ @ : + - (at most 100), starting with a letter or digit`,
    )
  }
  return given
}

/** Builds the frozen config: flag, then environment, then config file, then default. */
export function loadConfig(flags: ConnectionFlags, env: Env = process.env): Readonly<Config> {
  const home = env['GRIDX_HOME'] || join(homedir(), '.gridx')
  const file = readFileConfig(home)
  return Object.freeze({
    home,
    httpPort:
      port(flags.httpPort, '--http-port') ??
      port(env['GRIDX_HTTP_PORT'], 'GRIDX_HTTP_PORT') ??
      file.httpPort ??
      DEFAULT_HTTP_PORT,
    wsPort:
      port(flags.wsPort, '--ws-port') ??
      port(env['GRIDX_WS_PORT'], 'GRIDX_WS_PORT') ??
      file.wsPort ??
      DEFAULT_WS_PORT,
    coordinator: flags.coordinator || env['GRIDX_COORDINATOR'] || env['COORDINATOR_IP'] || undefined,
    coordinatorFrom: flags.coordinator
      ? 'flag'
      : env['GRIDX_COORDINATOR'] || env['COORDINATOR_IP']
        ? 'env'
        : undefined,
    context: contextOf(flags, env),
    user: flags.user || env['GRIDX_USER'] || undefined,
    password: flags.password ?? env['GRIDX_PASSWORD'] ?? undefined,
    caCert: caCert(flags, env, file, home),
    tlsCert:
      flags.tlsCert || env['GRIDX_TLS_CERT'] || (file.tlsCert && resolve(home, file.tlsCert)) || undefined,
    tlsKey: flags.tlsKey || env['GRIDX_TLS_KEY'] || (file.tlsKey && resolve(home, file.tlsKey)) || undefined,
    publicUrl: flags.publicUrl || env['GRIDX_PUBLIC_URL'] || file.publicUrl || undefined,
    database: flags.database?.trim() || env['GRIDX_DATABASE_URL']?.trim() || file.database || undefined,
    blobDir: blobDir(flags, env, file, home),
    quota: flags.quota || env['GRIDX_QUOTA'] || file.quota || undefined,
    maxArray:
      (flags.maxArray === undefined ? undefined : String(flags.maxArray)) ||
      env['GRIDX_MAX_ARRAY'] ||
      undefined,
    maxHeartbeats:
      flags.maxHeartbeats ||
      env['GRIDX_MAX_HEARTBEATS'] ||
      (file.maxHeartbeats === undefined ? undefined : String(file.maxHeartbeats)),
    signup: signupMode(flags, env, file),
    invite: flags.invite?.trim() || env['GRIDX_INVITE']?.trim() || undefined,
    discovery: discovery(flags, env, file),
    join: flags.join?.trim() || env['GRIDX_JOIN']?.trim() || undefined,
    logFormat: logFormat(flags.logFormat, env['GRIDX_LOG_FORMAT'], file),
    logRequests: logRequests(flags.logRequests, env['GRIDX_LOG_REQUESTS'], file),
    metricsTokenFile: metricsTokenFile(flags, env),
    proxy: proxySettings(env),
    file,
  })
}

/**
 * The coordinator a command talks to, as typed: `--coordinator`, then the coordinator of a
 * context named by `--context`, then GRIDX_COORDINATOR (or COORDINATOR_IP), then the active
 * context's (GRIDX_CONTEXT's, else the current one: the last login or `gridx context use`),
 * then `coordinator` in config.json; undefined when none names one. `context` is the active
 * context's coordinator.
 */
export function namedCoordinator(config: Config, context?: string): string | undefined {
  const byFlag = config.coordinatorFrom === 'flag' ? config.coordinator : undefined
  const byContextFlag = config.context?.from === '--context' ? context : undefined
  return byFlag ?? byContextFlag ?? config.coordinator ?? context ?? (config.file.coordinator || undefined)
}

/**
 * Parses the coordinators a command talks to (`namedCoordinator`), else this machine; every
 * element is checked before any connection is tried.
 */
export function coordinatorAddresses(config: Config, lastLogin?: string): CoordinatorAddress[] {
  return parseCoordinatorList(namedCoordinator(config, lastLogin) ?? '127.0.0.1', {
    httpPort: config.httpPort,
    wsPort: config.wsPort,
  })
}

/** The first of `coordinatorAddresses`: where a command starts. */
export function coordinatorAddress(config: Config, lastLogin?: string): CoordinatorAddress {
  return coordinatorAddresses(config, lastLogin)[0]!
}

/** Environment values the worker passes to Docker discovery. */
export function dockerEnv(env: Env = process.env): {
  dockerHost: string | undefined
  home: string
  uid: number | undefined
} {
  return { dockerHost: env['DOCKER_HOST'] || undefined, home: homedir(), uid: process.getuid?.() }
}

/** What the terminal's environment says about colour and characters: NO_COLOR, TERM and the locale. */
export function terminalEnv(env: Env = process.env): { noColor: boolean; dumb: boolean; locale: string } {
  return {
    // no-color.org: set and not empty.
    noColor: (env['NO_COLOR'] ?? '') !== '',
    dumb: env['TERM'] === 'dumb',
    // The first set of these decides the character set, as in setlocale(3).
    locale: env['LC_ALL'] || env['LC_CTYPE'] || env['LANG'] || '',
  }
}
