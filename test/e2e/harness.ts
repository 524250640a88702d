import type { Subprocess } from 'bun'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

/** The compiled binary every end-to-end test drives. */
export const GRIDX = resolve(import.meta.dir, '../../dist/gridx')
/** The local Python image (built from Debian packages by scripts/local-images.sh). */
export const PY_IMAGE = 'gridx-local/python:bookworm'
/** The local busybox image. */
export const BB_IMAGE = 'gridx-local/busybox:latest'

/** A process whose output is collected as it arrives. */
export interface Proc {
  proc: Subprocess<'ignore', 'pipe', 'pipe'>
  stdout: () => string
  stderr: () => string
  /** Resolves with the first stderr/stdout match of `re`, or rejects after `ms`. */
  waitFor: (re: RegExp, ms?: number) => Promise<RegExpMatchArray>
  stop: (signal?: NodeJS.Signals) => Promise<number>
}

function collect(stream: ReadableStream<Uint8Array>, sink: { text: string }): void {
  void (async () => {
    const dec = new TextDecoder()
    for await (const chunk of stream) sink.text += dec.decode(chunk, { stream: true })
  })()
}

/**
 * Starts `gridx ARGS` in the background with the given home; `wrap` goes before the binary
 * (e.g. `ip netns exec NS`, which execs it: signals still reach gridx itself).
 */
export function spawnGridx(args: string[], env: Record<string, string>, wrap: string[] = []): Proc {
  // No mDNS unless a test asks (GRIDX_DISCOVERY: '1'): multicast stays inside the discovery test's namespaces.
  const proc = Bun.spawn([...wrap, GRIDX, ...args], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', GRIDX_DISCOVERY: '0', ...env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const out = { text: '' }
  const err = { text: '' }
  collect(proc.stdout, out)
  collect(proc.stderr, err)
  return {
    proc,
    stdout: () => out.text,
    stderr: () => err.text,
    async waitFor(re, ms = 15_000) {
      const deadline = Date.now() + ms
      for (;;) {
        const m = re.exec(err.text) ?? re.exec(out.text)
        if (m) return m
        if (proc.exitCode !== null || Date.now() > deadline) {
          throw new Error(
            `gave up waiting for ${re} (exit ${proc.exitCode})\nstdout:\n${out.text}\nstderr:\n${err.text}`,
          )
        }
        await Bun.sleep(25)
      }
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null) proc.kill(signal)
      return proc.exited
    },
  }
}

/** Runs `gridx ARGS` to completion. */
export async function gridx(
  args: string[],
  env: Record<string, string>,
  opts: { cwd?: string; timeoutMs?: number; wrap?: string[] } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([...(opts.wrap ?? []), GRIDX, ...args], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', GRIDX_DISCOVERY: '0', ...env },
    cwd: opts.cwd,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 60_000)
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  clearTimeout(timer)
  return { code, stdout, stderr }
}

/** A temporary directory removed by `cleanup`. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `gridx-${prefix}-`))
}

/** A running coordinator from the binary, on free loopback ports. */
export interface Grid {
  home: string
  httpPort: number
  wsPort: number
  coordinator: string
  serve: Proc
  procs: Proc[]
  /** Environment for a client with its own GRIDX_HOME. */
  env: (home: string) => Record<string, string>
  /**
   * Registers a user (and logs in) in a fresh home; returns that home's environment. The first
   * user is the operator; later ones register with an invite it makes (unless `--signup` says otherwise).
   */
  user: (name: string, password?: string) => Promise<Record<string, string>>
  /** Starts a worker for a user's environment and waits until it is ready. */
  worker: (env: Record<string, string>, name: string, extra?: string[]) => Promise<Proc>
  /**
   * Restarts the coordinator on the same ports and data; `whileDown` runs between the stop and
   * the start. `restart('SIGKILL')` crashes it instead of stopping it: sockets and the database
   * are not closed cleanly. `serveArgs` replaces the arguments of `gridx serve` from then on.
   */
  restart: (
    signal?: NodeJS.Signals,
    whileDown?: () => Promise<unknown>,
    serveArgs?: string[],
  ) => Promise<void>
  close: () => Promise<void>
}

/** Starts `gridx serve` on port 0 and returns handles to drive it. */
export async function startGrid(firstArgs: string[] = []): Promise<Grid> {
  let serveArgs = firstArgs
  const home = tempDir('coord')
  const dirs: string[] = [home]
  const procs: Proc[] = []
  const startServe = async (http: number, ws: number) => {
    const p = spawnGridx(
      ['serve', '--host', '127.0.0.1', '--http-port', String(http), '--ws-port', String(ws), ...serveArgs],
      {
        GRIDX_HOME: home,
      },
    )
    const m = await p.waitFor(/API http:\/\/127\.0\.0\.1:(\d+) .*ws:\/\/127\.0\.0\.1:(\d+)\/ws\/worker/)
    return { p, http: Number(m[1]), ws: Number(m[2]) }
  }
  const first = await startServe(0, 0)
  const signup = serveArgs[serveArgs.indexOf('--signup') + 1]
  const byInvite = !serveArgs.includes('--signup') || signup === 'invite'
  let operator: Promise<Record<string, string>> | undefined
  const grid: Grid = {
    home,
    httpPort: first.http,
    wsPort: first.ws,
    coordinator: `127.0.0.1:${first.http}`,
    serve: first.p,
    procs,
    env: (h) => ({ GRIDX_HOME: h, GRIDX_COORDINATOR: `127.0.0.1:${grid.httpPort}` }),
    async user(name, password = 'password-123') {
      const h = tempDir(`user-${name}`)
      dirs.push(h)
      const env = grid.env(h)
      const register = async (invite: string[]) => {
        const r = await gridx(['register', ...invite, '--user', name, '--password', password], env)
        if (r.code !== 0) throw new Error(`register ${name} failed: ${r.stderr}`)
        return { ...env, GRIDX_USER: name, GRIDX_PASSWORD: password }
      }
      if (!byInvite) return register([])
      // Set before any await, so users registered at once still wait for the operator.
      if (!operator) return (operator = register([]))
      const made = await gridx(['invite', '--json'], await operator)
      if (made.code !== 0) throw new Error(`gridx invite failed: ${made.stderr}`)
      return register(['--invite', (JSON.parse(made.stdout) as { code: string }).code])
    },
    async worker(env, name, extra = []) {
      // The local test images are not python:*, the default allowlist.
      const w = spawnGridx(['work', '--name', name, '--images', 'gridx-local/*', ...extra], env)
      procs.push(w)
      await w.waitFor(new RegExp(`as worker ${name}; waiting for jobs`))
      return w
    },
    async restart(signal = 'SIGTERM', whileDown, args) {
      await grid.serve.stop(signal)
      await whileDown?.()
      if (args) serveArgs = args
      const next = await startServe(grid.httpPort, grid.wsPort)
      grid.serve = next.p
    },
    async close() {
      // A frozen (SIGSTOPped) process never handles SIGTERM: thaw everything first. A worker
      // still running jobs drains on SIGTERM; a second one hands them back so teardown is quick.
      for (const p of procs) if (p.proc.exitCode === null) p.proc.kill('SIGCONT')
      await Promise.all(
        procs.map(async (p) => {
          const again = setTimeout(() => p.proc.exitCode === null && p.proc.kill('SIGTERM'), 3000)
          const kill = setTimeout(() => p.proc.kill('SIGKILL'), 20_000)
          await p.stop()
          clearTimeout(again)
          clearTimeout(kill)
        }),
      )
      await grid.serve.stop()
      for (const d of dirs) rmSync(d, { recursive: true, force: true })
    },
  }
  return grid
}
