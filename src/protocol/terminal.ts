// The checks and the escaping of free text that need no zod, apart from src/protocol/text.ts (its
// zod schemas): the CLI's help and usage errors print through escapeTerminal without loading zod.

/**
 * Free text that users and workers send (names, images, reasons) ends up on other people's
 * terminals and in the coordinator's log. Names are refused on the way in when they could steer a
 * terminal or forge a line; everything else is escaped on the way out.
 */

/** C0 controls (newline, tab, ESC ...), DEL and the C1 controls (CSI, OSC ... as U+0080-U+009F). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/
/** Bidirectional embeddings, overrides and isolates, which reorder what a terminal shows (Trojan Source). */
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/
/** Unicode line and paragraph separators: a new line to some terminals and log readers. */
const SEPARATOR = /[\u2028\u2029]/
/** Everything `escapeTerminal` rewrites. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g

/** Why `text` is not acceptable single-line text for `what` ("worker names"), or undefined when it is. */
export function lineProblem(text: string, what: string, maxChars: number): string | undefined {
  if (text.length === 0) return `${what} may not be empty`
  if (text.length > maxChars) return `${what} are at most ${maxChars} characters`
  if (CONTROL.test(text)) return `${what} may not contain control characters`
  if (SEPARATOR.test(text)) return `${what} may not contain line separators`
  if (BIDI.test(text)) return `${what} may not contain Unicode direction controls`
  return undefined
}

/**
 * Text from a coordinator, a worker or a job made safe for a terminal or a log line: C0 controls
 * become `\xNN`, DEL, C1 controls, line separators and direction controls `\uNNNN`, so they can
 * neither move the cursor, recolour or retitle the terminal nor start a forged line.
 * `keepNewlines` leaves `\n` alone for multi-line text. JSON stays valid JSON meaning the same
 * (JSON.stringify already escapes C0, and `\uNNNN` is JSON's own escape).
 */
export function escapeTerminal(text: string, opts: { keepNewlines?: boolean } = {}): string {
  return text.replace(UNSAFE, (ch) => {
    if (ch === '\n' && opts.keepNewlines) return ch
    const code = ch.charCodeAt(0)
    return code < 0x20
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`
  })
}
