import { appendFileSync, chownSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SQL } from 'bun'
import { ADMIN_PASSWORD, binDir, idOf, pwFile, run } from './postgres'

/**
 * A private PostgreSQL cluster that listens inside one network namespace (a lab "host"), so
 * coordinators on other lab hosts reach it over the lab's link, and this process reaches it
 * over its unix socket (a file path: sockets on disk cross network namespaces).
 */
export interface NsCluster {
  /** The URL lab hosts use for database `name`. */
  url: (name: string) => string
  /** Creates an empty database and returns its URL. */
  create: (name: string) => Promise<string>
  /** A connection from this process to database `name` (close it when done). */
  sql: (name: string) => SQL
  /** Stops the server (`pg_ctl stop -m fast`: sessions end at once, as in a database restart). */
  stop: () => void
  /** Starts it again on the same address and data; returns when it accepts connections. */
  start: () => void
  /** Stops it and removes its directory. */
  remove: () => void
}

/** Runs a command in a namespace as the `postgres` user (PostgreSQL refuses to run as root). */
function inNs(ns: string, argv: string[]): void {
  const full = ['ip', 'netns', 'exec', ns, 'runuser', '-u', 'postgres', '--', ...argv]
  const r = Bun.spawnSync(full, { stdout: 'pipe', stderr: 'pipe' })
  if (r.exitCode !== 0) {
    throw new Error(`${full.join(' ')} failed (${r.exitCode}):\n${r.stdout.toString()}${r.stderr.toString()}`)
  }
}

/** Starts a cluster listening on `addr:port` in namespace `ns` (needs root; the lab must be up). */
export function startNsCluster(ns: string, addr: string, port = 5432): NsCluster {
  if (process.getuid?.() !== 0) throw new Error('a namespaced PostgreSQL needs root')
  const bin = binDir()
  const dir = mkdtempSync(join(tmpdir(), 'gridx-pgns-'))
  const data = join(dir, 'data')
  chownSync(dir, Number(idOf('-u')), Number(idOf('-g')))
  run(
    [join(bin, 'initdb'), '-D', data, '-U', 'postgres', '-A', 'scram-sha-256', '--pwfile', pwFile(dir, true)],
    true,
  )
  // initdb admits loopback only; the lab's hosts come over its link.
  appendFileSync(join(data, 'pg_hba.conf'), 'host all all 10.231.0.0/24 scram-sha-256\n')
  const opts = `-p ${port} -k ${dir} -c listen_addresses=${addr} -c fsync=off -c max_connections=200`
  const pgCtl = join(bin, 'pg_ctl')
  const start = () => inNs(ns, [pgCtl, '-D', data, '-l', join(dir, 'log'), '-o', opts, '-w', 'start'])
  start()
  // Removed when this process ends however it ends (the lab's own teardown kills the server).
  const watcher = Bun.spawn(
    [
      'sh',
      '-c',
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 0.5; done; runuser -u postgres -- ${pgCtl} -D '${data}' -m immediate stop; rm -rf '${dir}'`,
    ],
    { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore', detached: true },
  )
  watcher.unref()
  const url = (name: string) => `postgres://postgres:${ADMIN_PASSWORD}@${addr}:${port}/${name}`
  const sql = (name: string) =>
    new SQL({
      path: join(dir, `.s.PGSQL.${port}`),
      username: 'postgres',
      password: ADMIN_PASSWORD,
      database: name,
      max: 2,
      connectionTimeout: 10,
    })
  return {
    url,
    sql,
    async create(name) {
      const admin = sql('postgres')
      try {
        await admin.unsafe(`CREATE DATABASE ${name}`)
      } finally {
        await admin.close()
      }
      return url(name)
    },
    stop: () => inNs(ns, [pgCtl, '-D', data, '-m', 'fast', '-w', 'stop']),
    start,
    remove() {
      Bun.spawnSync(['runuser', '-u', 'postgres', '--', pgCtl, '-D', data, '-m', 'immediate', 'stop'], {
        stdout: 'ignore',
        stderr: 'ignore',
      })
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
