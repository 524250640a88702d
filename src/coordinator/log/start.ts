import { VERSION } from '../../version'
import type { CoordinatorOptions } from '../server'
import type { Settings } from '../settings'
import type { Fields } from './format'

/**
 * The `start` line's fields: where the coordinator listens and the settings in effect, so a log
 * says what produced it. No secrets: the database URL, the first invite and the TLS key are left out.
 */
export function startFields(
  opts: Pick<CoordinatorOptions, 'host' | 'dataDir' | 'tls' | 'publicUrl' | 'blobDir'>,
  s: Settings,
  ports: { http: number | undefined; ws: number | undefined },
  engine: 'sqlite' | 'postgres',
): Fields {
  return {
    version: VERSION,
    host: opts.host,
    http_port: ports.http,
    ws_port: ports.ws,
    tls: opts.tls !== undefined,
    engine,
    data_dir: opts.dataDir,
    blob_dir: opts.blobDir,
    public_url: opts.publicUrl,
    signup: s.signup,
    admins: s.admins.length > 0 ? s.admins.join(',') : undefined,
    grant_mc: s.signupGrantMc,
    price_mc_per_cpu_minute: s.price.mcPerCpuMinute,
    max_attempts: s.maxAttempts,
    lease_ms: s.leaseMs,
    heartbeat_ms: s.heartbeatMs,
    max_heartbeats: s.heartbeatsPerSecond,
    log_limit_bytes: s.outputCapBytes,
    max_input_bytes: s.maxInputBytes,
    max_output_bytes: s.maxOutputBytes,
    quota_bytes: s.quotaBytes,
    keep_files_ms: s.keepFilesMs,
    idle_timeout_ms: s.idleTimeoutMs,
    min_upload_rate: s.minBodyRate,
    max_unauthenticated_per_address: s.maxUnauthenticatedPerAddress,
  }
}
