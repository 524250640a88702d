import type { CoordinatorAddress } from '../client/address'
import { type CheckResult, fail, ok, warn } from '../protocol/doctor'

/** Whether one coordinator's checks show it answering as a Grid-X coordinator. */
export function answers(results: readonly CheckResult[]): boolean {
  return results.some((r) => r.check === 'health' && r.status === 'ok')
}

/**
 * The checks of several coordinators (`--coordinator a,b,c`), one section per address (each
 * check named after it), and a summary: "2 of 3 coordinators answer". Clients and workers move
 * on when one fails, so a coordinator that does not answer is a warning while another does (its
 * own failures become warnings, their fixes kept); only a grid none of whose coordinators
 * answers fails. A problem at a coordinator that does answer (credentials, clock, a certificate)
 * stays a failure: commands that reach it would hit it.
 */
export function gridChecks(
  sections: readonly { addr: CoordinatorAddress; results: CheckResult[] }[],
): CheckResult[] {
  if (sections.length === 1) return sections[0]!.results
  const up = sections.filter((s) => answers(s.results))
  const out: CheckResult[] = []
  for (const s of sections) {
    const name = s.addr.serverName ? `${s.addr.serverName} at ${s.addr.host}` : s.addr.input.trim()
    const downHere = !answers(s.results) && up.length > 0
    for (const r of s.results) {
      const check = `[${name}] ${r.check}`
      out.push(
        downHere && r.status === 'fail'
          ? warn(check, `${r.detail} (the other coordinators carry the grid meanwhile)`, r.fix)
          : { ...r, check },
      )
    }
  }
  const n = sections.length
  const silent = sections.filter((s) => !answers(s.results)).map((s) => s.addr.httpUrl)
  if (up.length === n) out.push(ok('coordinators', `${n} of ${n} coordinators answer`))
  else if (up.length > 0)
    out.push(
      warn(
        'coordinators',
        `${up.length} of ${n} coordinators answer (${silent.join(', ')} ${silent.length === 1 ? 'does' : 'do'} not); clients and workers use the others`,
        "start 'gridx serve' again on the ones that do not answer, or take them out of --coordinator",
      ),
    )
  else
    out.push(
      fail(
        'coordinators',
        `0 of ${n} coordinators answer`,
        "start 'gridx serve' on at least one of them (see each one's checks above)",
      ),
    )
  return out
}
