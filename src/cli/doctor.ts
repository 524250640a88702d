import type { CoordinatorAddress } from '../client/address'
import { CredentialStore } from '../client/credentials'
import { browseCoordinators } from '../client/discovery'
import { checkCoordinator } from '../client/doctor/coordinator'
import { lanChecks } from '../client/doctor/lan'
import { checkServeHost } from '../client/doctor/serve-host'
import { expandNames } from '../client/address-list'
import { coordinatorAddresses, dockerEnv, loadConfig, namedCoordinator } from '../config'
import { gridChecks } from './doctor-coordinators'
import { exitCodeFor } from './exit-codes'
import { GridError } from '../errors'
import { type CheckResult, fail, skip } from '../protocol/doctor'
import { DEFAULT_IMAGE, DEFAULT_IMAGE_ALLOWLIST } from '../protocol/images'
import { parseDuration } from '../protocol/units'
import { note, out } from './options'
import { safe } from './render'
import { marks, utf8 } from './style'

/** The flags yargs parses for this command. */
export type Flags = {
  coordinator?: string
  httpPort?: number
  wsPort?: number
  caCert?: string
  user?: string
  password?: string
  serve?: boolean
  host?: string
  worker?: boolean
  docker?: boolean
  images?: string[]
  pull?: boolean
  runtime?: string
  timeout?: string
  json?: boolean
}

type Env = Record<string, string | undefined>

/** The mark of each status: ✓ and ✗ in a UTF-8 locale, ASCII otherwise. */
const mark = (status: CheckResult['status']): string => {
  const m = marks()
  return { ok: m.ok, fail: m.fail, warn: '!', skip: '-' }[status]
}

/** One check as one line: `✓ name: detail`, `✗ name: detail — fix: …`. */
export function formatCheck(c: CheckResult): string {
  // Details quote what the other side sent (versions, reasons, headers): one line each, escaped.
  const detail = safe(c.status === 'skip' ? `skipped: ${c.detail}` : c.detail)
  const fix = c.fix && c.status !== 'ok' ? ` ${utf8() ? '—' : '-'} fix: ${safe(c.fix)}` : ''
  return `${mark(c.status)} ${c.check}: ${detail}${fix}`
}

/**
 * What the commands trust for a coordinator, as doctor checks it: `--ca-cert` else the login's CA
 * file, with the pinned certificate's anchor (as `tlsOptions` joins them), and the pin itself.
 */
function remembered(
  creds: CredentialStore,
  httpUrl: string,
  given: string | undefined,
): { ca: string | undefined; pin: string | undefined } {
  const t = creds.trust(httpUrl)
  const ca = [given ?? t?.ca?.pem, t?.pin?.anchor].filter((p) => p).join('\n')
  return { ca: ca || undefined, pin: t?.pin?.fingerprint }
}

/** The API URL a login for this address is saved under: the name's, for one record of a name. */
function savedUnder(addr: CoordinatorAddress): string {
  if (!addr.serverName) return addr.httpUrl
  return addr.httpUrl.replace(`://${addr.host}:`, `://${addr.serverName}:`)
}

/** Runs every check that applies to this machine and returns the results, in order. */
export async function diagnose(flags: Flags, env: Env = process.env): Promise<CheckResult[]> {
  const config = loadConfig(flags, env)
  const timeoutMs = flags.timeout ? parseDuration(flags.timeout, '--timeout') : 3000
  const results: CheckResult[] = []
  // Discovery listens for a few seconds: it runs beside the other checks, not after them.
  const lan = config.discovery
    ? browseCoordinators({ timeoutMs: Math.min(Math.max(timeoutMs, 1000), 3000) })
    : undefined
  const creds = new CredentialStore(config.home, config.context?.name)
  const named = namedCoordinator(config, creds.lastCoordinator()) !== undefined
  if (flags.serve) {
    results.push(
      ...(await checkServeHost({
        host: flags.host ?? config.file.host ?? '0.0.0.0',
        httpPort: config.httpPort,
        wsPort: config.wsPort,
        timeoutMs,
      })),
    )
  } else {
    let addrs: CoordinatorAddress[] = []
    try {
      // A name with several records is one section per record; over TLS the checks name the host
      // itself (their certificate checks go by the name), so it stays one section.
      const named = coordinatorAddresses(config, creds.lastCoordinator())
      addrs = (await Promise.all(named.map((a) => (a.tls ? Promise.resolve([a]) : expandNames([a]))))).flat()
    } catch (err) {
      if (!(err instanceof GridError)) throw err
      results.push(fail('address', err.message, 'give --coordinator as host, host:port or URL'))
    }
    const given =
      config.user && config.password !== undefined
        ? { user: config.user, password: config.password }
        : undefined
    // Each coordinator of a list is checked at once beside the others: one section each.
    const sections = await Promise.all(
      addrs.map(async (addr) => {
        const saved = savedUnder(addr)
        return {
          addr,
          results: await checkCoordinator({
            addr,
            ...remembered(creds, saved, config.caCert?.pem),
            login: creds.get(saved),
            creds: given,
            timeoutMs,
            proxy: config.proxy,
          }),
        }
      }),
    )
    if (sections.length) results.push(...gridChecks(sections))
  }
  results.push(...lanChecks(await lan, { needed: !named, serve: flags.serve === true }))
  // A coordinator host needs no Docker; a worker host must have it; elsewhere it is checked if found.
  if (flags.docker === false) {
    results.push(skip('docker', '--no-docker'))
  } else if (!flags.serve || flags.worker) {
    const file = config.file
    const images = (flags.images ?? file.images ?? []).flatMap((i) => i.split(',')).filter((i) => i.trim())
    // dockerode is heavy to load; only a doctor that looks at Docker pays for it.
    const [{ checkEngine }, { dockerCandidates }] = await Promise.all([
      import('../worker/engine-check'),
      import('../worker/docker'),
    ])
    results.push(
      ...(await checkEngine({
        candidates: dockerCandidates(dockerEnv(env)),
        dockerHost: dockerEnv(env).dockerHost,
        allow: images.length ? images : DEFAULT_IMAGE_ALLOWLIST,
        pull: flags.pull ?? file.pull ?? true,
        defaultImage: DEFAULT_IMAGE,
        ociRuntime: flags.runtime ?? file.runtime,
        worker: flags.worker === true,
        timeoutMs,
        runTimeoutMs: Math.max(timeoutMs, 30_000),
      })),
    )
  }
  return results
}

/** `gridx doctor`: prints each check; fails (exit 3) when any check failed. */
export async function doctor(flags: Flags): Promise<number> {
  const results = await diagnose(flags)
  if (flags.json) out(JSON.stringify(results, null, 2))
  else for (const r of results) out(formatCheck(r))
  const failed = results.filter((r) => r.status === 'fail')
  if (failed.length > 0) {
    const summary = `${failed.length} check(s) failed: ${failed.map((r) => r.check).join(', ')}`
    // Under --json the array on stdout is the whole answer, failures included: the summary goes to
    // stderr, so stdout stays one document (docs/JSON.md).
    if (flags.json) return (note(`gridx: ${summary}`), exitCodeFor('checks_failed'))
    throw new GridError('checks_failed', summary)
  }
  if (!flags.json) note('gridx doctor: no problems found')
  return 0
}
