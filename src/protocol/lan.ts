import { isIP } from 'node:net'
import * as dns from 'dns-packet'
import { normalizeFingerprint } from './fingerprint'

/** The DNS-SD service type coordinators advertise on the local network (RFC 6763). */
export const SERVICE_TYPE = '_gridx._tcp.local'
/** The mDNS group and port (RFC 6762); IPv4 only: every LAN that has IPv6 has IPv4 multicast too. */
export const MDNS_GROUP = '224.0.0.251'
/** The mDNS port. */
export const MDNS_PORT = 5353
/** Version of the TXT record's keys; a browser skips records of a version it does not know. */
export const ADVERT_VERSION = '1'
/** Records' time to live (RFC 6762 section 10 suggests 120 s for names tied to a host, 75 min for others). */
export const ADVERT_TTL_S = 120
/** The largest datagram read: mDNS allows 9000 bytes (RFC 6762 section 17); anything larger is dropped unread. */
export const MAX_PACKET_BYTES = 9000

// What one packet may make us believe: a hostile host on the LAN can send anything, so a packet
// yields a bounded list of bounded coordinators, and whatever does not fit is left out.
const MAX_RECORDS = 64
const MAX_COORDINATORS = 16
const MAX_ADDRESSES = 8
const MAX_URL = 300
const MAX_QUESTIONS = 32

/** What `gridx serve` says about itself on the local network. */
export interface LanAdvert {
  /** DNS-SD instance name: the coordinator's host name unless told otherwise. */
  instance: string
  /** The host's mDNS name, e.g. `lab-pc.local`. */
  host: string
  /** The HTTP API port (which also takes the worker socket upgrade). */
  port: number
  /** Non-loopback addresses of this machine. */
  addresses: string[]
  /** The product version. */
  version: string
  tls: boolean
  /** SHA-256 fingerprint of the TLS certificate, `AB:CD:…` (only with `tls`). */
  fingerprint?: string | undefined
  /** `--public-url`, when set. */
  publicUrl?: string | undefined
}

/** A coordinator as one mDNS answer described it: nothing here is checked beyond its form. */
export interface LanCoordinator {
  name: string
  host: string
  port: number
  addresses: string[]
  tls: boolean
  fingerprint: string | undefined
  publicUrl: string | undefined
  version: string | undefined
  /** Seconds the records are valid; 0 is a goodbye (the coordinator stopped). */
  ttl: number
}

/** A DNS label: printable, no dot (it would split the name), at most 63 bytes. */
export function dnsLabel(text: string, fallback: string): string {
  let label = text.replace(/[\p{Cc}\p{Cf}.]/gu, '-').trim()
  while (Buffer.byteLength(label) > 63) label = label.slice(0, -1)
  return label || fallback
}

/** The host part of an mDNS host name: letters, digits and dashes. */
export function hostLabel(hostname: string): string {
  const first = hostname.split('.')[0] ?? ''
  return (
    first
      .replace(/[^a-zA-Z0-9-]/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 63) || 'gridx'
  )
}

function instanceName(a: LanAdvert): string {
  return `${dnsLabel(a.instance, 'gridx')}.${SERVICE_TYPE}`
}

function txt(a: LanAdvert): string[] {
  const entries = [`v=${ADVERT_VERSION}`, `version=${a.version}`, `tls=${a.tls ? 1 : 0}`]
  if (a.tls && a.fingerprint) entries.push(`fp=${a.fingerprint}`)
  // A TXT string holds at most 255 bytes; a longer URL is left out rather than cut.
  if (a.publicUrl && Buffer.byteLength(a.publicUrl) <= 250) entries.push(`url=${a.publicUrl}`)
  return entries
}

/** The PTR, SRV, TXT and A/AAAA records that describe a coordinator, with the given TTL (0: goodbye). */
export function advertRecords(a: LanAdvert, ttl: number): dns.Answer[] {
  const instance = instanceName(a)
  const records: dns.Answer[] = [
    { type: 'PTR', name: SERVICE_TYPE, ttl, data: instance },
    {
      type: 'SRV',
      name: instance,
      ttl,
      flush: true,
      data: { port: a.port, target: a.host, priority: 0, weight: 0 },
    },
    { type: 'TXT', name: instance, ttl, flush: true, data: txt(a) },
  ]
  for (const address of a.addresses) {
    const family = isIP(address)
    if (family === 4) records.push({ type: 'A', name: a.host, ttl, flush: true, data: address })
    if (family === 6) records.push({ type: 'AAAA', name: a.host, ttl, flush: true, data: address })
  }
  return records
}

/**
 * One mDNS response packet. A legacy one-shot query (from a port other than 5353) gets its id
 * and question back and a TTL of at most 10 s, as RFC 6762 section 6.7 asks.
 */
export function encodeResponse(
  a: LanAdvert,
  ttl: number,
  legacy?: { id: number; questions: dns.Question[] },
): Buffer {
  const answers = advertRecords(a, legacy ? Math.min(ttl, 10) : ttl).map((r) =>
    legacy && 'flush' in r ? { ...r, flush: false } : r,
  )
  return dns.encode({
    type: 'response',
    id: legacy?.id ?? 0,
    flags: dns.AUTHORITATIVE_ANSWER,
    questions: legacy?.questions ?? [],
    answers,
  })
}

/** A query for coordinators (PTR `_gridx._tcp.local`), with the given id. */
export function encodeBrowseQuery(id: number): Buffer {
  return dns.encode({ type: 'query', id, flags: 0, questions: [{ type: 'PTR', name: SERVICE_TYPE }] })
}

function decode(buf: Buffer): dns.Packet | undefined {
  if (buf.length < 12 || buf.length > MAX_PACKET_BYTES) return undefined
  try {
    return dns.decode(buf)
  } catch {
    // Truncated, looping or otherwise broken: a hostile or damaged packet says nothing.
    return undefined
  }
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()

/** The questions of a query packet that a coordinator should answer, or undefined when none are. */
export function questionsForUs(
  buf: Buffer,
  a: LanAdvert,
): { id: number; questions: dns.Question[] } | undefined {
  const p = decode(buf)
  if (!p || p.type !== 'query') return undefined
  const instance = instanceName(a)
  const ours = (p.questions ?? []).slice(0, MAX_QUESTIONS).filter((q) => {
    const any = q.type === ('ANY' as dns.RecordType)
    if (same(q.name, SERVICE_TYPE)) return any || q.type === 'PTR'
    if (same(q.name, instance)) return any || q.type === 'SRV' || q.type === 'TXT'
    if (same(q.name, a.host)) return any || q.type === 'A' || q.type === 'AAAA'
    return false
  })
  return ours.length ? { id: p.id ?? 0, questions: ours } : undefined
}

function txtEntries(data: unknown): Map<string, string> {
  const entries = new Map<string, string>()
  const list = Array.isArray(data) ? data : [data]
  for (const item of list.slice(0, 32)) {
    const text = Buffer.isBuffer(item) ? item.toString('utf8') : typeof item === 'string' ? item : ''
    const eq = text.indexOf('=')
    const key = (eq < 0 ? text : text.slice(0, eq)).toLowerCase()
    // RFC 6763 section 6.4: only the first occurrence of a key counts.
    if (key && !entries.has(key)) entries.set(key, eq < 0 ? '' : text.slice(eq + 1))
  }
  return entries
}

function webUrl(text: string | undefined): string | undefined {
  if (!text || text.length > MAX_URL) return undefined
  try {
    const u = new URL(text)
    return (u.protocol === 'http:' || u.protocol === 'https:') && !u.username && !u.password
      ? text
      : undefined
  } catch {
    return undefined
  }
}

function record<T extends string>(r: dns.Answer, type: T): (dns.Answer & { type: T }) | undefined {
  return r.type === type ? (r as dns.Answer & { type: T }) : undefined
}

/**
 * The coordinators a response packet describes: each needs a PTR for `_gridx._tcp.local`, an SRV
 * and a TXT of version 1 in the same packet; addresses come from A/AAAA records of the SRV's target
 * in that packet. Anything malformed is skipped, and nothing in a packet can throw.
 */
export function parseAdverts(buf: Buffer): LanCoordinator[] {
  const p = decode(buf)
  if (!p || p.type !== 'response') return []
  const records = [...(p.answers ?? []), ...(p.additionals ?? [])].slice(0, MAX_RECORDS)
  const found: LanCoordinator[] = []
  const seen = new Set<string>()
  for (const r of records) {
    const ptr = record(r, 'PTR')
    if (!ptr || !same(ptr.name, SERVICE_TYPE) || typeof ptr.data !== 'string') continue
    const instance = ptr.data
    if (seen.has(instance.toLowerCase()) || found.length >= MAX_COORDINATORS) continue
    seen.add(instance.toLowerCase())
    const srv = records.map((x) => record(x, 'SRV')).find((x) => x && same(x.name, instance))
    const text = records.map((x) => record(x, 'TXT')).find((x) => x && same(x.name, instance))
    if (!srv || !text || !Number.isInteger(srv.data.port) || srv.data.port < 1 || srv.data.port > 65535)
      continue
    const keys = txtEntries(text.data)
    if (keys.get('v') !== ADVERT_VERSION) continue
    const target = String(srv.data.target ?? '')
    const addresses = records
      .flatMap((x) => ((x.type === 'A' || x.type === 'AAAA') && same(x.name, target) ? [String(x.data)] : []))
      .filter((ip) => isIP(ip) !== 0)
      .slice(0, MAX_ADDRESSES)
    const suffix = `.${SERVICE_TYPE}`
    const label = same(instance.slice(-suffix.length), suffix) ? instance.slice(0, -suffix.length) : instance
    const version = keys.get('version')
    found.push({
      name: dnsLabel(label, '?'),
      host: target.replace(/[^\w.-]/g, '?').slice(0, 255),
      port: srv.data.port,
      addresses: [...new Set(addresses)],
      tls: keys.get('tls') === '1',
      fingerprint: normalizeFingerprint(keys.get('fp') ?? ''),
      publicUrl: webUrl(keys.get('url')),
      version: version && /^[\w.+-]{1,40}$/.test(version) ? version : undefined,
      ttl: Math.max(0, Math.min(ptr.ttl ?? 0, srv.ttl ?? 0)),
    })
  }
  return found
}
