// zod schemas of free text that users and workers send; the checks and the escaping themselves,
// which need no zod, are in src/protocol/terminal.ts.

import { z } from 'zod'
import { lineProblem } from './terminal'

export { escapeTerminal, lineProblem } from './terminal'

/** A zod string refused with the message `check` returns for it (undefined: accepted). */
export function checkedText(check: (text: string) => string | undefined) {
  return z.string().superRefine((text, ctx) => {
    const why = check(text)
    if (why) ctx.addIssue({ code: 'custom', message: why })
  })
}

/**
 * A zod string that is one line of visible text: not empty, at most `maxChars`, and without C0/C1
 * control characters, DEL, line separators or bidirectional overrides. `what` names it in refusals.
 */
export function singleLine(what: string, maxChars: number) {
  return checkedText((text) => lineProblem(text, what, maxChars))
}
