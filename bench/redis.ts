// A private Redis for the BullMQ baseline, made the way pg-cluster.ts makes PostgreSQL: Debian's
// redis-server in a temporary directory, on a free loopback port, stopped and removed at the end
// (also when the bench is killed: a detached watcher does it). No RDB snapshots ever (they would
// fork mid-run); the append-only file is the durability knob: 'everysec' (fsync once a second,
// Redis's documented durable default, the fair comparison with a coordinator that commits) or
// 'none' (no persistence at all).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './pg-cluster'
import { Background, baseEnv } from './proc'

/** How Redis keeps what it is given. */
export type RedisPersistence = 'everysec' | 'none'

/** A running private Redis. */
export interface PrivateRedis {
  port: number
  pid: number
  persistence: RedisPersistence
  /** Stops the server and removes its directory. */
  stop(): Promise<void>
}

/** Starts redis-server on a free loopback port; says how to install it when it is missing. */
export async function startRedis(persistence: RedisPersistence): Promise<PrivateRedis> {
  const bin = Bun.which('redis-server')
  if (!bin)
    throw new Error(
      "redis-server was not found (the BullMQ baseline needs it): install it ('sudo apt-get install redis-server', or run scripts/test-deps.sh), or set BENCH_BULLMQ=0",
    )
  const dir = mkdtempSync(join(tmpdir(), 'gridx-bench-redis-'))
  const port = await freePort()
  const aof =
    persistence === 'everysec' ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no']
  const argv = [bin, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', ...aof]
  argv.push('--daemonize', 'no', '--logfile', '', '--protected-mode', 'yes')
  const proc = new Background(`redis (${persistence})`, argv, baseEnv())
  await proc.waitFor(/Ready to accept connections/, 20_000)
  const watcher = Bun.spawn(
    [
      'sh',
      '-c',
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 0.5; done; kill -9 ${proc.pid} 2>/dev/null; rm -rf '${dir}'`,
    ],
    { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore', detached: true },
  )
  watcher.unref()
  return {
    port,
    pid: proc.pid,
    persistence,
    stop: async () => {
      await proc.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
