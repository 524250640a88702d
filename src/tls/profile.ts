import { constants } from 'node:crypto'

/**
 * TLS 1.2 cipher suites of Mozilla's "intermediate" profile that Bun's BoringSSL implements:
 * forward-secret ECDHE with AEAD only (no CBC, no static RSA key exchange). TLS 1.3 suites are
 * all AEAD and are not configurable in BoringSSL.
 */
export const INTERMEDIATE_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':')

/** TLS 1.2 and 1.3 only. Bun.serve has no `minVersion`; these `SSL_OP_NO_*` bits are how it is said. */
export const SECURE_OPTIONS =
  constants.SSL_OP_NO_SSLv3 | constants.SSL_OP_NO_TLSv1 | constants.SSL_OP_NO_TLSv1_1

/** Two years, Mozilla's recommendation; sent on HTTPS answers only (browsers ignore it over HTTP anyway). */
export const HSTS = 'max-age=63072000'

/** The `tls` options of `Bun.serve` for a certificate and key: Mozilla intermediate. */
export function serverTlsOptions(tls: { cert: string; key: string }): Bun.TLSOptions {
  return { cert: tls.cert, key: tls.key, ciphers: INTERMEDIATE_CIPHERS, secureOptions: SECURE_OPTIONS }
}
