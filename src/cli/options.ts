import type { Argv } from 'yargs'
import { escapeTerminal } from '../protocol/terminal'

/** Flags of every command that talks to a coordinator. */
export function connectionOptions<T>(y: Argv<T>) {
  return y
    .option('coordinator', {
      type: 'string',
      alias: 'coordinator-ip',
      describe:
        'coordinator: host, host:port or URL; several comma-separated (a,b:9000,https://c), the next used when one fails (env GRIDX_COORDINATOR; default: last login; work, login and register look on the local network)',
    })
    .option('http-port', {
      type: 'number',
      describe: 'API port when --coordinator names none (env GRIDX_HTTP_PORT)',
      default: undefined,
    })
    .option('ws-port', {
      type: 'number',
      describe: 'worker socket port when --coordinator names none (env GRIDX_WS_PORT)',
      default: undefined,
    })
    .option('ca-cert', {
      type: 'string',
      describe: 'trust this CA or self-signed certificate (PEM) for https/wss (env GRIDX_CA_CERT)',
    })
}

/** `--user` / `--password` (env GRIDX_USER / GRIDX_PASSWORD; prompted on a terminal). */
export function credentialOptions<T>(y: Argv<T>) {
  return y
    .option('user', { type: 'string', alias: 'u', describe: 'account name (env GRIDX_USER)' })
    .option('password', {
      type: 'string',
      describe: 'password (env GRIDX_PASSWORD; prompted when omitted on a terminal)',
    })
}

/** `--json` for commands that print data. */
export function jsonOption<T>(y: Argv<T>) {
  return y.option('json', { type: 'boolean', default: false, describe: 'print JSON for scripts' })
}

/**
 * Writes one line to stdout. Control characters in it (from names, reasons and errors others
 * chose) are shown escaped, never acted on by the terminal; JSON stays JSON.
 */
export function out(line: string): void {
  process.stdout.write(`${escapeTerminal(line, { keepNewlines: true })}\n`)
}

/** Writes one line of status to stderr, escaped like `out`. */
export function note(line: string): void {
  process.stderr.write(`${escapeTerminal(line, { keepNewlines: true })}\n`)
}
