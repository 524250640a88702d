// Colour and characters for a terminal: colour only on a terminal, never under NO_COLOR or
// --no-color; ✓ and ✗ only when the locale's character set is UTF-8, else plain ASCII.
import { isatty } from 'node:tty'
import { terminalEnv } from '../config'

/** What a painted word is: the colour follows from it. */
export type Tone = 'ok' | 'error' | 'warn' | 'active' | 'muted'

const SGR: Readonly<Record<Tone, string>> = {
  ok: '32',
  error: '31;1',
  warn: '33',
  active: '36',
  muted: '2',
}

/** The colour of each job state. */
const STATE_TONE: Readonly<Record<string, Tone>> = {
  succeeded: 'ok',
  failed: 'error',
  cancelled: 'muted',
  queued: 'warn',
  assigned: 'active',
  running: 'active',
}

const words = () => {
  const argv = process.argv.slice(2)
  const end = argv.includes('--') ? argv.indexOf('--') : argv.length
  return argv.slice(0, end)
}

const decided = new Map<number, boolean>()

/** True when text written to `fd` (1 or 2) may carry colour. */
export function colorOn(fd: 1 | 2): boolean {
  const known = decided.get(fd)
  if (known !== undefined) return known
  const env = terminalEnv()
  // The last of --color / --no-color wins, as with any flag given twice; neither colours a pipe.
  const asked = words().findLast((a) => a === '--color' || a === '--no-color' || a === '--color=false')
  const on = isatty(fd) && (asked === undefined ? !env.noColor && !env.dumb : asked === '--color')
  decided.set(fd, on)
  return on
}

/** `text` in the colour of `tone` when `fd` takes colour, else as it is. */
export function paint(tone: Tone, text: string, fd: 1 | 2 = 1): string {
  return colorOn(fd) ? `\u001b[${SGR[tone]}m${text}\u001b[0m` : text
}

/** A job state, coloured by what it means. */
export function paintState(state: string, fd: 1 | 2 = 1): string {
  const tone = STATE_TONE[state]
  return tone ? paint(tone, state, fd) : state
}

/**
 * False when the locale (LC_ALL, then LC_CTYPE, then LANG) names a character set other than
 * UTF-8, such as `C`, `POSIX` or `en_US.ISO-8859-1`. No locale at all counts as UTF-8: services,
 * containers and cron jobs often run without one while their logs and terminals are UTF-8.
 */
export function utf8(): boolean {
  const locale = terminalEnv().locale
  return locale === '' || /utf-?8/i.test(locale)
}

/** The check mark and cross, or their ASCII stand-ins outside a UTF-8 locale. */
export function marks(): { ok: string; fail: string } {
  return utf8() ? { ok: '✓', fail: '✗' } : { ok: 'ok', fail: 'x' }
}
