import { writeSync } from 'node:fs'
import type { Argv } from 'yargs'
import { escapeTerminal } from '../protocol/terminal'

/** Flags of every command that talks to a coordinator. */
export function connectionOptions<T>(y: Argv<T>) {
  return y
    .option('coordinator', {
      type: 'string',
      alias: 'coordinator-ip',
      describe:
        'coordinator: host, host:port or URL; several comma-separated (a,b:9000,https://c), the next used when one fails (env GRIDX_COORDINATOR; default: the current context, the last login; work, login and register look on the local network)',
    })
    .option('context', {
      type: 'string',
      describe:
        "saved context (coordinator and account) to use for this command, as 'gridx context ls' lists them (env GRIDX_CONTEXT; default: the current one)",
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
 * True once `writeDirect` was called: `out` and `note` write to the descriptors themselves.
 * Touching `process.stdout` or `process.stderr` builds Node's stream classes (~7 ms of CPU,
 * as much as the rest of a `gridx submit`); a long-running command keeps them, since they
 * buffer instead of waiting on a full pipe.
 */
let direct = false

/** Makes `out` and `note` write straight to fd 1 and 2, in order, for a process that runs one command and exits. */
export function writeDirect(): void {
  direct = true
}

/** Writes all of `text` to `fd` now, waiting while a non-blocking pipe is full; a reader that went away ends it, as with the streams. */
function writeNow(fd: number, text: string): void {
  const data = Buffer.from(text)
  let done = 0
  while (done < data.length) {
    try {
      done += writeSync(fd, data, done)
    } catch (err) {
      const code = (err as { code?: string }).code
      if (code === 'EPIPE') return
      if (code !== 'EAGAIN') throw err
      Bun.sleepSync(1)
    }
  }
}

/**
 * Called before every line is written: a status line redrawn in place (./status-line.ts, which
 * sets it when it first draws) gives way to every real line. A hook, not an import, so commands
 * that never draw one load nothing of it.
 */
let beforeWrite: (() => void) | undefined

/** Sets the hook `out` and `note` call before they write. */
export function setBeforeWrite(hook: () => void): void {
  beforeWrite = hook
}

function write(fd: 1 | 2, text: string): void {
  beforeWrite?.()
  if (direct) writeNow(fd, text)
  else (fd === 1 ? process.stdout : process.stderr).write(text)
}

/**
 * Writes one line to stdout. Control characters in it (from names, reasons and errors others
 * chose) are shown escaped, never acted on by the terminal; JSON stays JSON.
 */
export function out(line: string): void {
  write(1, `${escapeTerminal(line, { keepNewlines: true })}\n`)
}

/** Writes one line to stdout as it is: only for lines whose untrusted parts were escaped already (so colour may be added). */
export function outPainted(line: string): void {
  write(1, `${line}\n`)
}

/** Writes one line of status to stderr, escaped like `out`. */
export function note(line: string): void {
  write(2, `${escapeTerminal(line, { keepNewlines: true })}\n`)
}
