import { ApiClient } from '../client/api'
import { parseCoordinator } from '../client/address'
import { type BrowseResult, browseCoordinators, BROWSE_MS, type FoundCoordinator } from '../client/discovery'
import { probeCertificate } from '../client/peer'
import { CredentialStore } from '../client/credentials'
import { type ConnectionFlags, loadConfig, namedCoordinator } from '../config'
import { GridError } from '../errors'
import { normalizeFingerprint } from '../protocol/fingerprint'
import { readLine } from './line-reader'
import { note } from './options'
import { openSession, type Session } from './session'

/** Where discovery says to connect, and the certificate fingerprint the user accepted (TLS only). */
export interface Discovered {
  url: string
  pin?: string | undefined
}

/** What finding a coordinator uses from the world, replaceable in tests. */
export interface FindDeps {
  browse: () => Promise<BrowseResult>
  /** The SHA-256 fingerprint of the certificate served at host:port, or undefined when none could be read. */
  certificate: (host: string, port: number) => Promise<string | undefined>
  /** True when a Grid-X coordinator answers plain HTTP on this machine at the port. */
  local: (httpPort: number) => Promise<boolean>
  tty: boolean
  ask: (question: string) => Promise<string>
  note: (line: string) => void
}

const LOCAL_TIMEOUT_MS = 1500

async function localCoordinator(httpPort: number): Promise<boolean> {
  const api = new ApiClient(parseCoordinator('127.0.0.1', { httpPort, wsPort: httpPort }))
  const timeout = new Promise<false>((resolve) => setTimeout(() => resolve(false), LOCAL_TIMEOUT_MS).unref())
  return Promise.race([
    api.health().then(
      () => true,
      () => false,
    ),
    timeout,
  ])
}

/** The real world: mDNS, TLS probes, the terminal. */
export function findDeps(): FindDeps {
  return {
    browse: () => browseCoordinators({ timeoutMs: BROWSE_MS }),
    certificate: async (host, port) => (await probeCertificate(host, port))?.fingerprint,
    local: localCoordinator,
    tty: process.stdin.isTTY === true,
    ask: (q) => readLine(q, false),
    note,
  }
}

const describe = (c: FoundCoordinator) =>
  `${c.name} at ${c.url}${c.tls ? ` (TLS, certificate SHA-256 ${c.fingerprint ?? 'not advertised'})` : ''}${c.publicUrl ? `, public address ${c.publicUrl}` : ''}`

function none(command: string, problem: string | undefined): GridError {
  return new GridError(
    'no_coordinator_found',
    `no coordinator given, and none answered on the local network within ${BROWSE_MS / 1000}s${problem ? ` (${problem})` : ''}: pass its address, e.g. 'gridx ${command} --coordinator 192.168.1.100' (or set GRIDX_COORDINATOR), or paste the join line 'gridx serve' printed. Discovery finds only a 'gridx serve' on the same LAN, and needs multicast (UDP 5353) allowed by both machines' firewalls`,
  )
}

async function choose(command: string, found: FoundCoordinator[], d: FindDeps): Promise<FoundCoordinator> {
  if (found.length === 1) return found[0]!
  const lines = found.map((c) => `  gridx ${command} --coordinator ${c.url}   # ${describe(c)}`)
  if (!d.tty) {
    throw new GridError(
      'several_coordinators',
      `${found.length} coordinators answered on the local network; choose one with --coordinator:\n${lines.join('\n')}`,
    )
  }
  d.note(`${found.length} coordinators answered on the local network:`)
  found.forEach((c, i) => d.note(`  ${i + 1}) ${describe(c)}`))
  const answer = (await d.ask(`which one? [1-${found.length}] `)).trim()
  const picked = /^\d+$/.test(answer) ? found[Number(answer) - 1] : undefined
  if (!picked) {
    throw new GridError(
      'no_coordinator_chosen',
      `'${answer}' is none of 1-${found.length}: run again and type a number, or choose with --coordinator:\n${lines.join('\n')}`,
    )
  }
  return picked
}

/**
 * A TLS coordinator found by discovery is trusted only when the certificate it serves is the one
 * it advertised and the user, shown its fingerprint on a terminal, says yes: anyone on the LAN
 * can advertise. Returns the accepted fingerprint (the pin).
 */
async function trust(c: FoundCoordinator, d: FindDeps): Promise<string> {
  const where = `coordinator ${c.name} at ${c.url}`
  const join = "paste the join line 'gridx serve' printed (it carries the certificate's fingerprint)"
  if (!c.fingerprint) {
    throw new GridError(
      'untrusted_discovery',
      `${where} serves TLS but advertises no certificate fingerprint, so it cannot be checked: ${join}, or pass --coordinator ${c.url} with --ca-cert`,
    )
  }
  const u = new URL(c.url)
  const seen = normalizeFingerprint((await d.certificate(u.hostname, c.port)) ?? '')
  if (!seen) {
    throw new GridError(
      'coordinator_unreachable',
      `${where} answered on the local network, but its TLS certificate could not be read from ${u.host}: is a firewall blocking TCP port ${c.port}? Try 'gridx doctor --coordinator ${c.url}'`,
      { retryable: true },
    )
  }
  if (seen !== c.fingerprint) {
    throw new GridError(
      'advertised_fingerprint_mismatch',
      `${where} serves a certificate with SHA-256 ${seen}, but advertised ${c.fingerprint}: something else may be answering at that address, so it is not trusted. ${join[0]!.toUpperCase()}${join.slice(1)}`,
    )
  }
  if (!d.tty) {
    throw new GridError(
      'untrusted_discovery',
      `found ${where} on the local network, but its certificate (SHA-256 ${seen}) is trusted only with a yes on a terminal, and there is none: ${join}, or pass --coordinator ${c.url} with --ca-cert`,
    )
  }
  d.note(`certificate SHA-256 fingerprint: ${seen}`)
  d.note("compare it with the 'SHA-256 fingerprint' line 'gridx serve' printed on the coordinator")
  const answer = (await d.ask('trust it? [y/N] ')).trim().toLowerCase()
  if (answer !== 'y' && answer !== 'yes') {
    throw new GridError(
      'untrusted_discovery',
      `not trusted: ${where} was not used (${join} to trust it without asking)`,
    )
  }
  return seen
}

/**
 * Finds the coordinator to use when none was named (no flag, environment, config file or saved
 * login): a coordinator answering plain HTTP on this machine first (as before discovery), else
 * the one the local network advertises, chosen and trusted as above.
 */
export async function findCoordinator(
  command: string,
  httpPort: number,
  d: FindDeps = findDeps(),
): Promise<Discovered> {
  if (await d.local(httpPort)) {
    const url = `http://127.0.0.1:${httpPort}`
    d.note(`found coordinator on this machine at ${url}`)
    return { url }
  }
  d.note(`no coordinator given: looking for one on the local network (mDNS, ${BROWSE_MS / 1000}s)...`)
  const { found, problem } = await d.browse()
  if (found.length === 0) throw none(command, problem)
  const c = await choose(command, found, d)
  d.note(`found coordinator ${c.name} at ${c.url} on the local network`)
  if (!c.tls) return { url: c.url }
  return { url: c.url, pin: await trust(c, d) }
}

/** The session for a discovered coordinator: its URL as `--coordinator`, its accepted fingerprint pinned. */
function sessionAt(flags: ConnectionFlags, found: Discovered): Session {
  // The pin is checked again at the first call and saved with the login (see openSession).
  return openSession({ ...flags, coordinator: found.url }, undefined, { pin: found.pin, newContext: true })
}

/**
 * `openSession`, except that when no coordinator is named anywhere (flag, environment, config
 * file, last login) it finds one first (`findCoordinator`). For `work`, `login` and `register`.
 */
export async function discoverSession(
  flags: ConnectionFlags,
  command: string,
  d?: FindDeps,
): Promise<Session> {
  const config = loadConfig(flags)
  // Discovery off, the old default stands: a coordinator on this machine (127.0.0.1).
  const creds = new CredentialStore(config.home, config.context?.name)
  if (!config.discovery || namedCoordinator(config, creds.lastCoordinator()) !== undefined)
    return openSession(flags, undefined, { newContext: true })
  return sessionAt(flags, await findCoordinator(command, config.httpPort, d))
}
