// A private PostgreSQL cluster: initdb into a temporary directory, a free loopback port, stopped
// at the end. Shared by the tests (test/support/postgres.ts) and the dispatch bench; imports
// nothing from src so either may use it.
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writtenBytes } from './profile'

/** Where Debian's PostgreSQL keeps its server programs (initdb and pg_ctl are not on PATH there). */
const DEBIAN_BIN = '/usr/lib/postgresql'

/** The cluster's superuser password (a private cluster on loopback, gone at exit). */
export const ADMIN_PASSWORD = 'gridx-test-admin'

/** How to start a cluster. */
export interface ClusterOptions {
  /** Extra `-c name=value` server settings (fsync=off and max_connections=200 are the defaults). */
  settings?: Record<string, string>
  /**
   * Also stop the cluster and remove its directory when this process ends however it ends
   * (a kill -9 skips every exit handler): a detached watcher does it. Default true.
   */
  watch?: boolean
}

/** A running private cluster. */
export interface Cluster {
  /** postgres://postgres:…@127.0.0.1:PORT/postgres */
  adminUrl: string
  port: number
  /** The temporary directory holding the data directory, socket and log. */
  dir: string
  /** The postmaster's pid (its backends are its children). */
  postmasterPid: number
  /** Stops the server at once (`-m immediate`) and removes its directory. */
  stop(): void
}

/** The directory of PostgreSQL's server programs (initdb, pg_ctl). */
export function binDir(): string {
  const onPath = Bun.which('initdb')
  if (onPath) return join(onPath, '..')
  const versions = existsSync(DEBIAN_BIN)
    ? readdirSync(DEBIAN_BIN)
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

/** A TCP port free on loopback right now. */
export async function freePort(): Promise<number> {
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

/** The uid or gid of the `postgres` OS user. */
export function idOf(flag: '-u' | '-g'): number {
  return Number(Bun.spawnSync(['id', flag, 'postgres']).stdout.toString().trim())
}

/** Writes the superuser's password file for initdb into `dir` (readable by `postgres`). */
export function pwFile(dir: string, root: boolean): string {
  const file = join(dir, 'pw')
  writeFileSync(file, ADMIN_PASSWORD, { mode: 0o600 })
  if (root) chownSync(file, idOf('-u'), idOf('-g'))
  return file
}

/** Starts a private cluster on a free loopback port (as the `postgres` user when run as root). */
export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const bin = binDir()
  const root = process.getuid?.() === 0
  const dir = mkdtempSync(join(tmpdir(), 'gridx-pg-'))
  const data = join(dir, 'data')
  if (root) chownSync(dir, idOf('-u'), idOf('-g'))
  run(
    [join(bin, 'initdb'), '-D', data, '-U', 'postgres', '-A', 'scram-sha-256', '--pwfile', pwFile(dir, root)],
    root,
  )
  const port = await freePort()
  const settings = { fsync: 'off', max_connections: '200', ...opts.settings }
  const extra = Object.entries(settings)
    .map(([k, v]) => `-c ${k}=${v}`)
    .join(' ')
  const serverOpts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 ${extra}`
  run([join(bin, 'pg_ctl'), '-D', data, '-l', join(dir, 'log'), '-o', serverOpts, '-w', 'start'], root)
  const pgCtl = [...(root ? ['runuser', '-u', 'postgres', '--'] : []), join(bin, 'pg_ctl')]
  if (opts.watch !== false) {
    // Stopped when this process ends, however it ends (bun test may skip 'exit' handlers, and a
    // kill -9 skips them all): a detached watcher stops the cluster and removes its directory.
    const watcher = Bun.spawn(
      [
        'sh',
        '-c',
        `while kill -0 ${process.pid} 2>/dev/null; do sleep 0.5; done; ${pgCtl.join(' ')} -D '${data}' -m immediate stop; rm -rf '${dir}'`,
      ],
      { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore', detached: true },
    )
    watcher.unref()
  }
  const postmasterPid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0])
  let stopped = false
  return {
    adminUrl: `postgres://postgres:${ADMIN_PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    dir,
    postmasterPid,
    stop: () => {
      if (stopped) return
      stopped = true
      Bun.spawnSync([...pgCtl, '-D', data, '-m', 'immediate', 'stop'], { stdout: 'ignore', stderr: 'ignore' })
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

const TICK_MS = 10 // USER_HZ is 100 on Linux

/** The fields of /proc/PID/stat after the command name (the state first); undefined when it is gone. */
function statOf(pid: number | string): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return s.slice(s.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

/** The live children of `parent`, each with its stat fields. */
function childrenOf(parent: number): { pid: string; stat: string[] }[] {
  const children: { pid: string; stat: string[] }[] = []
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    const stat = statOf(pid)
    if (stat && Number(stat[1]) === parent) children.push({ pid, stat })
  }
  return children
}

/**
 * CPU milliseconds (user + system) the cluster has used: the postmaster, its live children (the
 * backends and background processes) and the children it has reaped (backends that ended).
 */
export function clusterCpuMs(postmasterPid: number): number {
  const master = statOf(postmasterPid)
  if (!master) return Number.NaN
  // utime, stime, cutime, cstime are fields 14..17 of stat (11..14 after the state field).
  let ticks = Number(master[11]) + Number(master[12]) + Number(master[13]) + Number(master[14])
  for (const { stat } of childrenOf(postmasterPid)) ticks += Number(stat[11]) + Number(stat[12])
  return ticks * TICK_MS
}

/**
 * Bytes the cluster has written to storage so far (its WAL, checkpoints, the background writer):
 * the postmaster and its live children, the backends and background processes (a backend that
 * ended takes its count with it; the bench's connections last the whole flow).
 */
export function clusterWrittenBytes(postmasterPid: number): number {
  const master = writtenBytes(postmasterPid)
  if (!Number.isFinite(master)) return Number.NaN
  return childrenOf(postmasterPid).reduce((sum, { pid }) => {
    const b = writtenBytes(pid)
    return Number.isFinite(b) ? sum + b : sum
  }, master)
}
