// `gridx serve --log-format` and `--log-requests`: flag, then environment, then config file, then default.
import { GridError } from './errors'
import type { FileConfig } from './config-check'

import { LOG_FORMATS, type LogFormat } from './protocol/log-format'

export { LOG_FORMATS, type LogFormat } from './protocol/log-format'

/** `--log-format`, GRIDX_LOG_FORMAT (`fromEnv`: config.ts reads it), `logFormat` in config.json, else text. */
export function logFormat(
  flag: string | undefined,
  fromEnv: string | undefined,
  file: FileConfig,
): LogFormat {
  const given = (
    [
      [flag, '--log-format'],
      [fromEnv, 'GRIDX_LOG_FORMAT'],
    ] as const
  ).find(([v]) => v !== undefined && v.trim() !== '')
  if (!given) return file.logFormat ?? 'text'
  const format = LOG_FORMATS.find((f) => f === given[0]!.trim().toLowerCase())
  if (!format) {
    throw new GridError(
      'bad_log_format',
      `${given[1]} '${given[0]}' is not a log format: use text (lines for people) or json (one JSON object per line, for jq and log shippers)`,
    )
  }
  return format
}

/** `--log-requests`, GRIDX_LOG_REQUESTS (`fromEnv`), `logRequests` in config.json, else off. */
export function logRequests(
  flag: boolean | undefined,
  fromEnv: string | undefined,
  file: FileConfig,
): boolean {
  if (flag !== undefined) return flag
  const text = fromEnv?.trim().toLowerCase()
  if (text === undefined || text === '') return file.logRequests ?? false
  if (['1', 'true', 'yes', 'on'].includes(text)) return true
  if (['0', 'false', 'no', 'off'].includes(text)) return false
  throw new GridError(
    'bad_log_requests',
    `GRIDX_LOG_REQUESTS '${fromEnv}' is not on or off: use 1 (a log line per HTTP request) or 0`,
  )
}
