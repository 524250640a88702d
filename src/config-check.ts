// The plain check of `$GRIDX_HOME/config.json` every command runs at start: the same verdicts as
// the zod schema in ./config-file.ts (test/unit/config-check.test.ts holds them together), without
// loading zod. Only a file it refuses loads the schema, which words the error.
import { SIGNUP_MODES, type SignupMode } from './protocol/signup'
import { LOG_FORMATS, type LogFormat } from './config-log'

/** Settings a user may keep in `$GRIDX_HOME/config.json`; flags and environment win over it. */
export interface FileConfig {
  coordinator?: string
  httpPort?: number
  wsPort?: number
  host?: string
  dataDir?: string
  slots?: number
  name?: string
  caCert?: string
  tlsCert?: string
  tlsKey?: string
  publicUrl?: string
  /** `gridx serve --database`: the grid's shared PostgreSQL (postgres://…); unset, SQLite in the data dir. */
  database?: string
  /** `gridx serve --blob-dir`: keep job files in this directory, mounted on every coordinator. */
  blobDir?: string
  /** `gridx serve --quota`: storage each user may keep on the coordinator, e.g. "2g". */
  quota?: string
  /** `gridx serve --max-heartbeats`: heartbeats per second all workers together are kept under. */
  maxHeartbeats?: number | string
  /** Worker policy (`gridx work` flags of the same names win). */
  maxCpus?: number
  maxMemory?: string
  maxTimeout?: string
  images?: string[]
  pull?: boolean
  runtime?: string
  maxDisk?: string
  /** Python package environments (`gridx work --packages`, `--package-index`, ...). */
  packages?: boolean
  packageIndex?: string
  installNetwork?: string
  envCache?: string
  packagesAllowSource?: boolean
  /** Who may create accounts on this coordinator (`gridx serve --signup`). */
  signup?: SignupMode
  /** mDNS on the local network: `gridx serve` advertises, clients look for coordinators (false: neither). */
  discovery?: boolean
  /** `gridx serve --log-format`: text or json. */
  logFormat?: LogFormat
  /** `gridx serve --log-requests`: a log line per HTTP request. */
  logRequests?: boolean
}

type Check = (v: unknown) => boolean

const string: Check = (v) => typeof v === 'string'
const boolean: Check = (v) => typeof v === 'boolean'
const number: Check = (v) => typeof v === 'number' && Number.isFinite(v)
/** zod's `z.int()`: a safe integer. */
const int =
  (min: number, max = Number.MAX_SAFE_INTEGER): Check =>
  (v) =>
    Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max

const FIELDS: ReadonlyMap<string, Check> = new Map<keyof FileConfig, Check>([
  ['coordinator', string],
  ['httpPort', int(0, 65535)],
  ['wsPort', int(0, 65535)],
  ['host', string],
  ['dataDir', string],
  ['slots', int(1)],
  ['name', string],
  ['caCert', string],
  ['tlsCert', string],
  ['tlsKey', string],
  ['publicUrl', string],
  ['database', string],
  ['blobDir', string],
  ['quota', string],
  ['maxHeartbeats', (v) => number(v) || string(v)],
  ['maxCpus', (v) => number(v) && (v as number) > 0],
  ['maxMemory', string],
  ['maxTimeout', string],
  ['images', (v) => Array.isArray(v) && v.every((x) => typeof x === 'string' && x.length > 0)],
  ['pull', boolean],
  ['runtime', string],
  ['maxDisk', string],
  ['packages', boolean],
  ['packageIndex', string],
  ['installNetwork', string],
  ['envCache', string],
  ['packagesAllowSource', boolean],
  ['signup', (v) => SIGNUP_MODES.includes(v as SignupMode)],
  ['discovery', boolean],
  ['logFormat', (v) => LOG_FORMATS.includes(v as LogFormat)],
  ['logRequests', boolean],
])

/**
 * `json` (parsed config.json) as a FileConfig when every key is known and every value fits (what
 * the zod schema accepts, and then returns unchanged); undefined when the schema must judge it.
 */
export function checkFileConfig(json: unknown): FileConfig | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined
  for (const [key, value] of Object.entries(json)) {
    const check = FIELDS.get(key)
    // A known key given as undefined is absent to zod's optional (JSON.parse never makes one).
    if (!check || (value !== undefined && !check(value))) return undefined
  }
  return json
}
