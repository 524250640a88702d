import { escapeTerminal } from '../../protocol/terminal'

import type { LogFormat } from '../../protocol/log-format'

export { LOG_FORMATS, type LogFormat } from '../../protocol/log-format'

/** How much a line matters: errors need the operator, warnings explain a refusal or a loss. */
export type Level = 'info' | 'warn' | 'error'

/** A line's fields; undefined and null ones are left out, so a line says only what is known. */
export type Fields = Readonly<Record<string, string | number | boolean | null | undefined>>

/** The free-text lines the coordinator has always written (`log('...')`) are this event. */
export const MESSAGE = 'message'

const LEVEL_TEXT: Record<Level, string> = { info: 'INFO', warn: 'WARN', error: 'ERROR' }

/** A value that can stand bare after `key=`: no space, quote, `=`, backslash or anything escapeTerminal rewrites. */
const BARE = /^[^\s"=\\\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]+$/

/**
 * One value of a text line: bare when it can be, else quoted with `\` and `"` escaped first and
 * then every control character, ANSI escape, line separator and direction control written as
 * `\xNN`/`\uNNNN` (escapeTerminal), so no value can end the line or steer a terminal.
 */
export function textValue(v: string | number | boolean): string {
  if (typeof v !== 'string') return String(v)
  if (BARE.test(v)) return v
  return `"${escapeTerminal(v.replace(/[\\"]/g, '\\$&'))}"`
}

/** A text line: `TIME LEVEL event key=value ...`; a free-text message is written as it was, escaped. */
export function textLine(ts: number, level: Level, event: string, fields: Fields): string {
  let line = `${new Date(ts).toISOString()} ${LEVEL_TEXT[level]} `
  if (event === MESSAGE && typeof fields['msg'] === 'string') {
    // Today's lines stay as people know them; escaped, a newline in one cannot start a forged line.
    return line + escapeTerminal(fields['msg'])
  }
  line += event
  for (const key in fields) {
    const v = fields[key]
    if (v === undefined || v === null) continue
    line += ` ${key}=${textValue(v)}`
  }
  return line
}

/**
 * A JSON line: `{"ts", "level", "event", ...fields}`. JSON.stringify escapes C0 controls (ESC,
 * newline); escapeTerminal then writes the C1 controls, separators and direction controls it leaves
 * as `\uNNNN`, JSON's own escape, so the object parses back to exactly the values given.
 */
export function jsonLine(ts: number, level: Level, event: string, fields: Fields): string {
  const obj: Record<string, unknown> = { ts: new Date(ts).toISOString(), level, event }
  for (const key in fields) {
    const v = fields[key]
    if (v !== undefined && v !== null && !(key in obj)) obj[key] = v
  }
  return escapeTerminal(JSON.stringify(obj))
}

/** The formatter of `format`. */
export function formatter(format: LogFormat): typeof textLine {
  return format === 'json' ? jsonLine : textLine
}
