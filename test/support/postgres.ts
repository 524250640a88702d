import { chownSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SQL } from 'bun'

/** Where Debian's PostgreSQL keeps its server programs (initdb and pg_ctl are not on PATH there). */
const DEBIAN_BIN = '/usr/lib/postgresql'

/** A running cluster the tests may create databases in: its admin URL. */
interface Cluster {
  adminUrl: string
}

let cluster: Promise<Cluster> | undefined

/** The directory of PostgreSQL's server programs (initdb, pg_ctl). */
export function binDir(): string {
  const onPath = Bun.which('initdb')
  if (onPath) return join(onPath, '..')
  const versions = existsSync(DEBIAN_BIN)
    ? Bun.spawnSync(['ls', DEBIAN_BIN])
        .stdout.toString()
        .split('\n')
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : []
  for (const v of versions) {
    if (existsSync(join(DEBIAN_BIN, v, 'bin', 'initdb'))) return join(DEBIAN_BIN, v, 'bin')
  }
  throw new Error(
    "PostgreSQL's initdb was not found: install PostgreSQL ('sudo apt-get install postgresql', or run scripts/test-deps.sh), or set GRIDX_TEST_DATABASE_URL to an admin URL of a running cluster",
  )
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))))
    })
  })
}

/** Runs a server program, as the `postgres` OS user when we are root (PostgreSQL refuses to run as root). */
export function run(argv: string[], asPostgres: boolean): void {
  const full = asPostgres ? ['runuser', '-u', 'postgres', '--', ...argv] : argv
  const r = Bun.spawnSync(full, { stdout: 'pipe', stderr: 'pipe' })
  if (r.exitCode !== 0) {
    throw new Error(`${full.join(' ')} failed (${r.exitCode}):\n${r.stdout.toString()}${r.stderr.toString()}`)
  }
}

async function startCluster(): Promise<Cluster> {
  const bin = binDir()
  const root = process.getuid?.() === 0
  const dir = mkdtempSync(join(tmpdir(), 'gridx-pg-'))
  const data = join(dir, 'data')
  if (root) chownSync(dir, Number(idOf('-u')), Number(idOf('-g')))
  run(
    [join(bin, 'initdb'), '-D', data, '-U', 'postgres', '-A', 'scram-sha-256', '--pwfile', pwFile(dir, root)],
    root,
  )
  const port = await freePort()
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`
  run([join(bin, 'pg_ctl'), '-D', data, '-l', join(dir, 'log'), '-o', opts, '-w', 'start'], root)
  // Stopped when this process ends, however it ends (bun test may skip 'exit' handlers, and a
  // kill -9 skips them all): a detached watcher stops the cluster and removes its directory.
  const pgCtl = [...(root ? ['runuser', '-u', 'postgres', '--'] : []), join(bin, 'pg_ctl')].join(' ')
  const watcher = Bun.spawn(
    [
      'sh',
      '-c',
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 0.5; done; ${pgCtl} -D '${data}' -m immediate stop; rm -rf '${dir}'`,
    ],
    { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore', detached: true },
  )
  watcher.unref()
  return { adminUrl: `postgres://postgres:${ADMIN_PASSWORD}@127.0.0.1:${port}/postgres` }
}

/** The test cluster's superuser password (a private cluster on loopback, gone at exit). */
export const ADMIN_PASSWORD = 'gridx-test-admin'

/** The uid or gid of the `postgres` OS user. */
export function idOf(flag: '-u' | '-g'): string {
  return Bun.spawnSync(['id', flag, 'postgres']).stdout.toString().trim()
}

/** Writes the superuser's password file for initdb into `dir` (readable by `postgres`). */
export function pwFile(dir: string, root: boolean): string {
  const file = join(dir, 'pw')
  writeFileSync(file, ADMIN_PASSWORD, { mode: 0o600 })
  if (root) chownSync(file, Number(idOf('-u')), Number(idOf('-g')))
  return file
}

/** The admin URL of this process's cluster: GRIDX_TEST_DATABASE_URL, or a private one started on first use. */
export async function adminUrl(): Promise<string> {
  const given = process.env.GRIDX_TEST_DATABASE_URL
  if (given) return given
  cluster ??= startCluster()
  return (await cluster).adminUrl
}

let counter = 0

/** A new empty database on the test cluster; returns its URL (same credentials as the admin URL). */
export async function freshDatabase(): Promise<string> {
  const admin = await adminUrl()
  const name = `gridx_t${process.pid}_${++counter}_${Date.now().toString(36)}`
  const sql = new SQL(admin, { max: 1, connectionTimeout: 10 })
  try {
    await sql.unsafe(`CREATE DATABASE ${name}`)
  } finally {
    await sql.close()
  }
  const url = new URL(admin)
  url.pathname = `/${name}`
  return url.toString()
}
