import { networkInterfaces } from 'node:os'
import { join } from 'node:path'
import type { Config } from '../config'
import { GridError } from '../errors'
import { certificateNames } from '../tls/pem'
import { loadServerTls, type ServerTls } from '../tls/server-cert'
import { ensureSelfSigned, selfSignedNames } from '../tls/self-signed'

/** The TLS flags of `gridx serve` that only it reads (the paths come through the config). */
export interface TlsFlags {
  selfSigned?: boolean | undefined
  tlsSan?: string[] | undefined
}

/** What `gridx serve` serves with, and what it tells the operator about it. */
export interface ServeTls {
  tls: ServerTls | undefined
  /** Lines for the start-up banner: certificate, fingerprint, warnings. */
  notes: string[]
}

/** Resolves `--tls-cert`/`--tls-key` or `--self-signed` into a checked certificate, or none. */
export async function serveTls(
  config: Readonly<Config>,
  flags: TlsFlags,
  dataDir: string,
): Promise<ServeTls> {
  const { tlsCert, tlsKey } = config
  if (flags.selfSigned && (tlsCert || tlsKey)) {
    throw new GridError(
      'usage',
      '--self-signed makes its own certificate: give either --self-signed or --tls-cert with --tls-key, not both',
    )
  }
  if (flags.tlsSan?.length && !flags.selfSigned) {
    throw new GridError(
      'usage',
      '--tls-san only adds names to the --self-signed certificate: add --self-signed',
    )
  }
  if (Boolean(tlsCert) !== Boolean(tlsKey)) {
    throw new GridError(
      'usage',
      `${tlsCert ? '--tls-cert' : '--tls-key'} was given without ${tlsCert ? '--tls-key' : '--tls-cert'}: HTTPS needs both the certificate and its private key (or use --self-signed for a quick start)`,
    )
  }
  const notes: string[] = []
  let certPath = tlsCert
  let keyPath = tlsKey
  if (flags.selfSigned) {
    const made = await ensureSelfSigned(join(dataDir, 'tls'), selfSignedNames(flags.tlsSan ?? []))
    certPath = made.certPath
    keyPath = made.keyPath
    notes.push(
      made.created
        ? `created a self-signed certificate in ${made.certPath} (key ${made.keyPath}, mode 0600)`
        : `using the self-signed certificate made earlier in ${made.certPath}`,
    )
    if (made.missing.length) {
      notes.push(
        `warning: it does not cover ${made.missing.join(', ')}; clients using those names will be refused. Delete ${made.certPath} and ${made.keyPath} to make a new one (every client must then trust the new file)`,
      )
    }
  }
  if (!certPath || !keyPath) return { tls: undefined, notes }
  const tls = loadServerTls(certPath, keyPath)
  notes.push(
    `TLS certificate for ${certificateNames(tls.leaf).join(', ')}; valid until ${tls.leaf.validTo}`,
    `SHA-256 fingerprint ${tls.leaf.fingerprint256}`,
  )
  for (const w of tls.warnings) notes.push(`warning: ${w}`)
  return { tls, notes }
}

/** Checks `--public-url` and returns it without a trailing slash. */
export function parsePublicUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const bad = (why: string) =>
    new GridError(
      'bad_public_url',
      `--public-url '${value}' ${why}: give the address users and workers reach the coordinator at, e.g. https://grid.example.org or http://192.168.1.100:8081`,
    )
  let url: URL
  try {
    url = new URL(value.trim())
  } catch {
    throw bad('is not a URL')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad('must start with http:// or https://')
  if (url.username || url.password || url.search || url.hash)
    throw bad('must not hold credentials, a query or a fragment')
  return url.href.replace(/\/+$/, '')
}

/** The host other machines most likely reach this one at, when bound to every interface. */
function reachableHost(bound: string): string {
  if (bound !== '0.0.0.0' && bound !== '::' && bound !== '') return bound.includes(':') ? `[${bound}]` : bound
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (!a.internal && a.family === 'IPv4') return a.address
  }
  return '127.0.0.1'
}

/**
 * The `--coordinator` value users and workers should pass: the public URL when there is one,
 * else this machine's address (with the port whenever it is not the default or TLS is on).
 */
export function clientAddress(opts: {
  publicUrl: string | undefined
  host: string
  httpPort: number
  tls: boolean
  defaultHttpPort: number
}): string {
  if (opts.publicUrl) return opts.publicUrl
  const host = reachableHost(opts.host)
  if (opts.tls) return `https://${host}:${opts.httpPort}`
  return opts.httpPort === opts.defaultHttpPort ? host : `${host}:${opts.httpPort}`
}

/**
 * What a client given the address (not the join line) needs to trust this coordinator: nothing
 * for a public CA's certificate; for a self-signed one, a copy of this very file; for a private
 * CA's, that CA's certificate, which is not this file.
 */
export function caFileHint(tls: ServerTls | undefined): { flag: string; hint: string | undefined } {
  if (!tls || tls.publiclyTrusted) return { flag: '', hint: undefined }
  if (tls.selfSigned) {
    return {
      flag: ' --ca-cert COPY-OF-CERT.pem',
      hint: `(its certificate is self-signed: copy ${tls.certPath} from this machine to theirs and name the copy with --ca-cert once; the login remembers it)`,
    }
  }
  return {
    flag: ' --ca-cert ca.crt',
    hint: `(its certificate is from a private CA (${tls.issuer}), which no machine trusts by default: give clients that CA's certificate (the ca.crt of scripts/private-ca.sh) for --ca-cert once; the login remembers it)`,
  }
}
