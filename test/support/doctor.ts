import type { CheckResult } from '../../src/protocol/doctor'

/** The deadline of each doctor network check in tests. */
export const TIMEOUT_MS = 3000

/** The result of one check by name; fails the test when it is missing. */
export function check(results: CheckResult[], name: string): CheckResult {
  const r = results.find((c) => c.check === name)
  if (!r) throw new Error(`no '${name}' check in ${JSON.stringify(results, null, 2)}`)
  return r
}

/** A loopback port nothing listens on (it was free a moment ago). */
export function freePort(): number {
  const s = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = s.port
  s.stop(true)
  return port
}
