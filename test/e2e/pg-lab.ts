import { rmSync } from 'node:fs'
import type { SQL } from 'bun'
import { type Lab, startLab } from '../support/netns'
import { type NsCluster, startNsCluster } from '../support/pg-netns'
import { gridx, type Proc, spawnGridx, tempDir } from './harness'

// A grid of several coordinators on one PostgreSQL, each "machine" a network namespace of a lab:
// coordinators ca (10.231.0.1) and cb (.2), the database on db (.3), worker hosts wa (.11) and
// wb (.12), and cl (.21) for users' commands. All traffic stays on the lab's link; this process
// reads the database over its unix socket.

/** The lab's hosts and their addresses. */
export const HOSTS = {
  ca: '10.231.0.1',
  cb: '10.231.0.2',
  db: '10.231.0.3',
  wa: '10.231.0.11',
  wb: '10.231.0.12',
  cl: '10.231.0.21',
} as const

/** A coordinator host of the lab. */
export type CoordHost = 'ca' | 'cb'

/** `/health` as a client sees it. */
export interface Health {
  status: string
  reason: string | null
  workers: number
  queuedJobs: number
  runningJobs: number
}

/** A running grid of namespaced coordinators on one namespaced PostgreSQL. */
export interface PgGrid {
  lab: Lab
  db: NsCluster
  /** A connection of this process to the grid's database. */
  sql: SQL
  /** The coordinators' processes, by host (the latest start of each). */
  serve: Partial<Record<CoordHost, Proc>>
  /** Every process started, stopped at the end. */
  procs: Proc[]
  /** Starts (or restarts) `gridx serve` on a host; resolves when it listens. */
  start: (host: CoordHost) => Promise<Proc>
  /** A fresh home for a user of `coordinators` (a comma-separated list). */
  home: (name: string, coordinators: string) => Record<string, string>
  /** Runs gridx to completion on a host. */
  run: (
    host: keyof typeof HOSTS,
    args: string[],
    env: Record<string, string>,
  ) => Promise<{ code: number; stdout: string; stderr: string }>
  /** Starts gridx in the background on a host. */
  spawn: (host: keyof typeof HOSTS, args: string[], env: Record<string, string>) => Proc
  /** A coordinator's `/health`, asked from the users' host. */
  health: (host: CoordHost) => Promise<Health>
  close: () => Promise<void>
}

/** The API address of a coordinator host. */
export const api = (host: CoordHost): string => `${HOSTS[host]}:8081`

/** Creates the lab, the database and one coordinator per host in `coordinators`, in that order. */
export async function startPgGrid(coordinators: CoordHost[], serveArgs: string[]): Promise<PgGrid> {
  const lab = startLab(HOSTS)
  const dirs: string[] = []
  const procs: Proc[] = []
  let db: NsCluster | undefined
  try {
    db = startNsCluster(lab.ns('db'), HOSTS.db)
    const url = await db.create('gridx')
    const coordHome: Partial<Record<CoordHost, string>> = {}
    const grid: PgGrid = {
      lab,
      db,
      sql: db.sql('gridx'),
      serve: {},
      procs,
      async start(host) {
        coordHome[host] ??= tempDir(`pg-${host}`)
        dirs.push(coordHome[host])
        const p = spawnGridx(
          ['serve', '--host', '0.0.0.0', '--database', url, ...serveArgs],
          { GRIDX_HOME: coordHome[host] },
          lab.on(host),
        )
        procs.push(p)
        grid.serve[host] = p
        await p.waitFor(/gridx coordinator listening: API http:\/\/0\.0\.0\.0:8081/, 60_000)
        return p
      },
      home(name, coordinators) {
        const h = tempDir(`pg-${name}`)
        dirs.push(h)
        return { GRIDX_HOME: h, GRIDX_COORDINATOR: coordinators }
      },
      run: (host, args, env) => gridx(args, env, { wrap: lab.on(host), timeoutMs: 90_000 }),
      spawn(host, args, env) {
        const p = spawnGridx(args, env, lab.on(host))
        procs.push(p)
        return p
      },
      async health(host) {
        const p = Bun.spawn([...lab.on('cl'), 'curl', '-sS', '-m', '10', `http://${api(host)}/health`], {
          stdout: 'pipe',
          stderr: 'pipe',
        })
        const [out, err, code] = await Promise.all([
          new Response(p.stdout).text(),
          new Response(p.stderr).text(),
          p.exited,
        ])
        if (code !== 0) throw new Error(`curl ${api(host)}/health failed (${code}): ${err}`)
        return JSON.parse(out) as Health
      },
      async close() {
        await Promise.all(procs.map((p) => p.stop('SIGKILL')))
        await grid.sql.close().catch(() => {})
        lab.down()
        db?.remove()
        for (const d of dirs) rmSync(d, { recursive: true, force: true })
      },
    }
    for (const host of coordinators) await grid.start(host)
    return grid
  } catch (err) {
    await Promise.all(procs.map((p) => p.stop('SIGKILL')))
    lab.down()
    db?.remove()
    throw err
  }
}

/**
 * Registers the operator in a fresh home (the grid's first account) and, with its invites, the
 * other users; returns each one's environment, logged in, using `coordinators`.
 */
export async function registerUsers(
  grid: PgGrid,
  names: string[],
  coordinators: string,
): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = {}
  for (const name of names) {
    const env = { ...grid.home(name, coordinators), GRIDX_USER: name, GRIDX_PASSWORD: 'password-123' }
    const invite: string[] = []
    const op = out[names[0]!]
    if (op) {
      const made = await grid.run('cl', ['invite', '--json'], op)
      if (made.code !== 0) throw new Error(`invite failed: ${made.stderr}`)
      invite.push('--invite', (JSON.parse(made.stdout) as { code: string }).code)
    }
    const r = await grid.run('cl', ['register', ...invite], env)
    if (r.code !== 0) throw new Error(`register ${name} failed: ${r.stderr}`)
    out[name] = env
  }
  return out
}

/** Logs a user in again in a fresh home of its own (a second machine of theirs) using `coordinators`. */
export async function loginElsewhere(
  grid: PgGrid,
  user: Record<string, string>,
  name: string,
  coordinators: string,
): Promise<Record<string, string>> {
  const env = {
    ...grid.home(name, coordinators),
    GRIDX_USER: user.GRIDX_USER!,
    GRIDX_PASSWORD: user.GRIDX_PASSWORD!,
  }
  const r = await grid.run('cl', ['login'], env)
  if (r.code !== 0) throw new Error(`login in ${name} failed: ${r.stderr}`)
  return env
}

/** Resolves with the time `re` first appears in a process's output past `from` characters. */
export async function seenAfter(p: Proc, from: number, re: RegExp, ms: number): Promise<number> {
  const deadline = Date.now() + ms
  for (;;) {
    if (re.test(p.stderr().slice(from)) || re.test(p.stdout().slice(from))) return Date.now()
    if (Date.now() > deadline || p.proc.exitCode !== null) {
      throw new Error(`gave up waiting for ${re} (exit ${p.proc.exitCode}):\n${p.stderr().slice(from)}`)
    }
    await Bun.sleep(20)
  }
}

/** Polls `check` until it is true, or fails saying `what`. */
export async function until(check: () => Promise<boolean>, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await Bun.sleep(200)
  }
}
