import { readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { tempDir } from '../e2e/harness'

/** A real HTTP proxy (Debian's tinyproxy) on a free loopback port, for one test. */
export interface TestProxy {
  port: number
  /** http://127.0.0.1:PORT, with `user:password@` when it asks for a login. */
  url: string
  /** What tinyproxy logged: the CONNECT requests it saw and refused. */
  log: () => string
  stop: () => void
}

/** Why tinyproxy tests cannot run here, or undefined. */
export function tinyproxyMissing(): string | undefined {
  const has = Bun.spawnSync(['sh', '-c', 'command -v tinyproxy']).exitCode === 0
  return has ? undefined : "no tinyproxy: 'apt-get install -y tinyproxy'"
}

/** A free loopback TCP port. */
export async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/** True once something accepts TCP connections at listen:port; `wrap` runs the probe in a namespace. */
async function accepts(listen: string, port: number, wrap: string[] | undefined): Promise<boolean> {
  if (!wrap) {
    return Bun.connect({ hostname: listen, port, socket: { data() {} } }).then(
      (s) => (s.end(), true),
      () => false,
    )
  }
  // This process is not in the proxy's namespace: bash's /dev/tcp connects from inside it.
  const probe = Bun.spawn([...wrap, 'bash', '-c', `exec 3<>/dev/tcp/${listen}/${port}`], {
    stdout: 'ignore',
    stderr: 'ignore',
  })
  return (await probe.exited) === 0
}

/**
 * Starts tinyproxy allowing CONNECT only to `connectPorts` (its ConnectPort rules, as a
 * corporate proxy allows 443 only), with Basic auth when `auth` is given. `wrap` goes before the
 * command (`ip netns exec NS`: a proxy on a host of a network lab, listening on that host's
 * address, on `port`).
 */
export async function startTinyproxy(opts: {
  connectPorts: number[]
  auth?: { user: string; password: string }
  listen?: string
  port?: number
  wrap?: string[]
}): Promise<TestProxy> {
  const dir = tempDir('tinyproxy')
  const port = opts.port ?? (await freePort())
  const listen = opts.listen ?? '127.0.0.1'
  const logFile = join(dir, 'tinyproxy.log')
  const conf = [
    `Port ${port}`,
    `Listen ${listen}`,
    'Timeout 600',
    'MaxClients 100',
    'LogLevel Info',
    `LogFile "${logFile}"`,
    `PidFile "${join(dir, 'tinyproxy.pid')}"`,
    ...opts.connectPorts.map((p) => `ConnectPort ${p}`),
    ...(opts.auth ? [`BasicAuth ${opts.auth.user} ${opts.auth.password}`] : []),
  ].join('\n')
  writeFileSync(join(dir, 'tinyproxy.conf'), `${conf}\n`)
  // -d: stay in the foreground, so this process owns it and stops it.
  const proc = Bun.spawn([...(opts.wrap ?? []), 'tinyproxy', '-d', '-c', join(dir, 'tinyproxy.conf')], {
    stdout: 'ignore',
    stderr: 'pipe',
  })
  const deadline = Date.now() + 10_000
  for (;;) {
    if (await accepts(listen, port, opts.wrap)) break
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`tinyproxy did not start on ${port}`)
    await Bun.sleep(50)
  }
  const auth = opts.auth
    ? `${encodeURIComponent(opts.auth.user)}:${encodeURIComponent(opts.auth.password)}@`
    : ''
  return {
    port,
    url: `http://${auth}${listen}:${port}`,
    log: () => {
      try {
        return readFileSync(logFile, 'utf8')
      } catch {
        return ''
      }
    },
    stop: () => proc.kill(),
  }
}
