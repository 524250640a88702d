/** Why a connection failed, in terms a user can act on. */
export type FailureKind = 'refused' | 'timeout' | 'unreachable' | 'unresolved' | 'reset' | 'tls' | 'other'

/** A failed connection attempt: its kind, the system's code and message. */
export interface Failure {
  kind: FailureKind
  code: string
  message: string
}

const KINDS: Record<string, FailureKind> = {
  ECONNREFUSED: 'refused',
  ConnectionRefused: 'refused',
  ETIMEDOUT: 'timeout',
  TimeoutError: 'timeout',
  ConnectionTimedOut: 'timeout',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EHOSTDOWN: 'unreachable',
  ENETDOWN: 'unreachable',
  EADDRNOTAVAIL: 'unreachable',
  ENOTFOUND: 'unresolved',
  EAI_AGAIN: 'unresolved',
  EAI_NONAME: 'unresolved',
  EAI_FAIL: 'unresolved',
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  ConnectionClosed: 'reset',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'tls',
  SELF_SIGNED_CERT_IN_CHAIN: 'tls',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'tls',
  UNABLE_TO_GET_ISSUER_CERT: 'tls',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'tls',
  CERT_HAS_EXPIRED: 'tls',
  CERT_NOT_YET_VALID: 'tls',
  ERR_TLS_CERT_ALTNAME_INVALID: 'tls',
}

/** Sorts any socket, DNS, TLS or fetch error into the kinds `gridx doctor` explains. */
export function classifySocketError(err: unknown): Failure {
  const e = (err ?? {}) as { code?: unknown; name?: unknown; message?: unknown }
  const code = typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : 'unknown'
  const message = typeof e.message === 'string' ? e.message : String(err)
  const known = KINDS[code] ?? (typeof e.name === 'string' ? KINDS[e.name] : undefined)
  if (known) return { kind: known, code, message }
  if (/^(CERT_|ERR_TLS_|ERR_SSL_)/.test(code) || /certificate|TLS handshake/i.test(message)) {
    return { kind: 'tls', code, message }
  }
  return { kind: 'other', code, message }
}
