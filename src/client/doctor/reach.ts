import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { type CheckResult, fail, ok } from '../../protocol/doctor'
import { allowCommand } from './firewall'
import { classifySocketError, type Failure, probeTcp, probeTls } from './probes'

/** Which of the coordinator's two ports a check is about, and how a user changes it. */
export interface PortRole {
  /** Check name, e.g. `http port`. */
  check: string
  /** What listens there, for messages. */
  what: string
  flag: string
  env: string
}

/** The API port. */
export const HTTP_ROLE: PortRole = {
  check: 'http port',
  what: 'the API',
  flag: '--http-port',
  env: 'GRIDX_HTTP_PORT',
}
/** The worker WebSocket port. */
export const WS_ROLE: PortRole = {
  check: 'ws port',
  what: 'the worker socket',
  flag: '--ws-port',
  env: 'GRIDX_WS_PORT',
}

/** The commands that open one TCP port in the usual Linux firewalls. */
export function allowCommands(port: number): string {
  const [ufw, firewalld, iptables] = (['ufw', 'firewalld', 'iptables'] as const).map(
    (tool) => `'${allowCommand(tool, [port])}'`,
  )
  return `${ufw}, ${firewalld} or ${iptables}`
}

/** A failed connection to host:port as one ✗ line: what happened, and the most likely fix. */
export function connectionFailure(
  check: string,
  f: Failure,
  host: string,
  port: number,
  hint: { refused: string; other?: string },
): CheckResult {
  const where = `${host}:${port}`
  switch (f.kind) {
    case 'refused':
      return fail(check, `connection to ${where} refused: nothing listens there`, hint.refused)
    case 'timeout':
      return fail(
        check,
        `no answer from ${where} (timed out): filtered or dropped — check the firewall (ufw/firewalld/iptables) on ${host} and between`,
        `allow TCP port ${port} in on ${host}, e.g. ${allowCommands(port)}; and check that ${host} is the right address`,
      )
    case 'unreachable':
      return fail(
        check,
        `no route to ${host} (${f.code})`,
        `check that this machine and ${host} are on the same network or VPN ('ip route get ${host}'), and that the address is right`,
      )
    case 'unresolved':
      return fail(
        check,
        `the name '${host}' does not resolve (${f.code})`,
        `check the spelling, or use the coordinator's IP address`,
      )
    case 'reset':
      return fail(
        check,
        `${where} accepted the connection and then dropped it (${f.code})`,
        hint.other ??
          `a proxy or firewall may cut the connection, or port ${port} belongs to another program`,
      )
    case 'tls':
      return fail(
        check,
        `TLS with ${where} failed (${f.code}: ${f.message})`,
        `see the tls check; trust a private CA with --ca-cert FILE (or GRIDX_CA_CERT)`,
      )
    case 'other':
      return fail(
        check,
        `cannot talk to ${where}: ${f.message} (${f.code})`,
        hint.other ?? `check the address and that 'gridx serve' runs on ${host}`,
      )
  }
}

/** Name resolution: which addresses `host` stands for. */
export async function checkName(host: string, timeoutMs: number): Promise<CheckResult> {
  if (isIP(host)) return ok('name', `${host} is an IP address (no lookup needed)`)
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs).unref())
  try {
    const r = await Promise.race([lookup(host, { all: true }), timeout])
    if (r === 'timeout') {
      return fail(
        'name',
        `looking up '${host}' took longer than ${timeoutMs} ms`,
        `check this machine's DNS server ('resolvectl status' or /etc/resolv.conf), or use the coordinator's IP address`,
      )
    }
    const addresses = r.map((a) => a.address)
    const local = addresses.every((a) => a === '::1' || a.startsWith('127.'))
    return ok('name', `${host} resolves to ${addresses.join(', ')}${local ? ' (this machine)' : ''}`)
  } catch (err) {
    const f = classifySocketError(err)
    return fail(
      'name',
      `'${host}' does not resolve (${f.code})`,
      `check the spelling, add it to DNS or /etc/hosts, or use the coordinator's IP address (e.g. --coordinator 192.168.1.100)`,
    )
  }
}

/** TCP reach of one of the coordinator's ports, telling refused, timed out and unreachable apart. */
export async function checkPort(
  host: string,
  port: number,
  role: PortRole,
  timeoutMs: number,
  otherOpen?: { port: number; role: PortRole },
): Promise<CheckResult> {
  const r = await probeTcp(host, port, timeoutMs)
  if (r.kind === 'open') return ok(role.check, `${host}:${port} accepts TCP connections (${r.address})`)
  const refused = otherOpen
    ? `${otherOpen.role.what} answers on port ${otherOpen.port} but ${role.what} does not on ${port}: use the port 'gridx serve' on ${host} reports for ${role.what} (${role.flag} or ${role.env} here)`
    : `start 'gridx serve' on ${host}, or fix the port (${role.flag}, ${role.env}, or HOST:PORT in --coordinator); if it runs on another machine, it must not be bound to 127.0.0.1 (serve --host 0.0.0.0)`
  return connectionFailure(role.check, r, host, port, { refused })
}

/** The coordinator's TLS certificate on one port: valid, for this host name, trusted. */
export async function checkTls(
  check: string,
  host: string,
  port: number,
  opts: { ca: string | undefined; pin?: string | undefined; timeoutMs: number; now: number },
): Promise<CheckResult> {
  const r = await probeTls(host, port, opts)
  if (r.kind !== 'certificate') {
    return connectionFailure(check, r, host, port, {
      refused: `start 'gridx serve' on ${host}`,
      other: `is ${host}:${port} serving plain HTTP? use http:// in --coordinator, or serve TLS with 'gridx serve --tls-cert FILE --tls-key FILE'`,
    })
  }
  const names = r.altNames || `CN=${r.subject}`
  if (r.validTo.getTime() < opts.now) {
    return fail(
      check,
      `the certificate of ${host}:${port} (${names}) expired on ${r.validTo.toISOString()}`,
      `renew it on the coordinator and restart 'gridx serve --tls-cert FILE --tls-key FILE'`,
    )
  }
  if (r.validFrom.getTime() > opts.now) {
    return fail(
      check,
      `the certificate of ${host}:${port} is not valid before ${r.validFrom.toISOString()}`,
      `check the clock of this machine and of the coordinator ('timedatectl')`,
    )
  }
  // A pin replaces the host-name check (a token may name an address the certificate does not cover).
  const pinned = opts.pin !== undefined && opts.pin === r.fingerprint256
  if (r.nameMismatch && !pinned) {
    return fail(
      check,
      `the certificate of ${host}:${port} is for ${names}, not for ${host}`,
      `use a name the certificate lists in --coordinator, or make a certificate for ${host}`,
    )
  }
  if (!r.trusted) {
    const selfSigned = /SELF_SIGNED/.test(r.trustError ?? '')
    return fail(
      check,
      `the certificate of ${host}:${port} is not trusted (${r.trustError ?? 'unknown issuer'}${selfSigned ? ': self-signed' : ''}); SHA-256 fingerprint ${r.fingerprint256}`,
      opts.ca
        ? `the CA given by --ca-cert / GRIDX_CA_CERT did not sign it: pass the CA certificate the coordinator's certificate was made with`
        : `get the coordinator's CA certificate (check the fingerprint with its operator) and pass --ca-cert FILE, or set GRIDX_CA_CERT=FILE`,
    )
  }
  return ok(
    check,
    `certificate for ${names} valid until ${r.validTo.toISOString().slice(0, 10)}, trusted (${pinned ? 'pinned at login' : opts.ca ? 'CA from --ca-cert' : 'system CAs'})`,
  )
}
