// One line of status on a terminal, redrawn in place (upload progress, a job waiting in the
// queue) and wiped before anything else is written. Only on a terminal that can redraw: piped,
// redirected, TERM=dumb or under -q there is no such line at all.
import { writeSync } from 'node:fs'
import { isatty } from 'node:tty'
import { terminalEnv } from '../config'
import { escapeTerminal } from '../protocol/terminal'
import { setBeforeWrite } from './options'

let shown = false
let hooked = false

/** True when stderr is a terminal a line can be redrawn on, and the user did not ask for quiet. */
export function statusLineOn(quiet: boolean | undefined): boolean {
  return !quiet && isatty(2) && !terminalEnv().dumb
}

/** Draws `text` as the status line, over the one before (cut to the terminal's width). */
export function showStatus(text: string): void {
  const width = process.stderr.columns || 80
  const line = escapeTerminal(text, { keepNewlines: false }).slice(0, Math.max(10, width - 1))
  if (!hooked) setBeforeWrite(clearStatus)
  hooked = true
  write(`\r\u001b[2K${line}`)
  shown = true
}

/** Wipes the status line, if one is drawn (before a line of output or status is written). */
export function clearStatus(): void {
  if (!shown) return
  shown = false
  write('\r\u001b[2K')
}

function write(text: string): void {
  try {
    writeSync(2, text)
  } catch {
    // A terminal that went away: the line is only a courtesy.
  }
}
