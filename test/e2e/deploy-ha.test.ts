import { describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { acceptedEnv, flagsOf, ROOT } from '../support/cli-surface'

// The static half of deploy/compose-ha.yml's checks (the live run is deploy-ha-live.test.ts): the
// file names gridx flags and variables the binary has, the coordinators share one database and one
// file volume, nginx proxies both (WebSocket upgrade included) and fails over, and the tools
// themselves (docker compose, nginx -t) accept the files.
const COMPOSE = 'deploy/compose-ha.yml'
const NGINX = 'deploy/nginx-ha.conf'
const COORDINATORS = ['gridx-a', 'gridx-b']

interface Service {
  image: string
  command?: string[]
  environment?: Record<string, string>
  volumes?: string[]
  depends_on?: Record<string, { condition: string }> | string[]
  healthcheck?: { test: string[] }
}

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8')
const file = Bun.YAML.parse(read(COMPOSE)) as { services: Record<string, Service> }
const svc = (name: string): Service => {
  const s = file.services[name]
  if (!s) throw new Error(`${COMPOSE} has no service ${name}`)
  return s
}
const has = (cmd: string) => Bun.spawnSync(['sh', '-c', `command -v ${cmd}`]).exitCode === 0
const compose = has('docker-compose') ? ['docker-compose'] : ['docker', 'compose']
const noCompose = () =>
  Bun.spawnSync([...compose, 'version'], { stdout: 'pipe', stderr: 'pipe' }).exitCode !== 0
    ? 'neither docker-compose nor the docker compose plugin is installed'
    : undefined

describe(COMPOSE, () => {
  test('postgres, two coordinators, nginx and a worker, with flags and env gridx accepts', () => {
    expect(Object.keys(file.services).sort()).toEqual(['gridx-a', 'gridx-b', 'nginx', 'postgres', 'worker'])
    const known = acceptedEnv()
    for (const name of [...COORDINATORS, 'worker']) {
      const s = svc(name)
      const [bin, sub, ...args] = s.command ?? []
      expect(bin, name).toBe('gridx')
      const flags = flagsOf(sub)
      for (const a of args.filter((w) => w.startsWith('-')))
        expect(flags, `${name}: gridx ${sub} ${a}`).toContain(a)
      for (const v of Object.keys(s.environment ?? {})) expect(known, `${name}: ${v}`).toContain(v)
    }
    expect(svc('worker').command?.[1]).toBe('work')
    expect(svc('worker').volumes).toContain('/var/run/docker.sock:/var/run/docker.sock')
  })

  test('both coordinators use the one database (which holds the stored files too), each its own data volume', () => {
    const [a, b] = COORDINATORS.map(svc) as [Service, Service]
    for (const s of [a, b]) {
      expect(s.command?.[1]).toBe('serve')
      expect(s.environment?.['GRIDX_DATABASE_URL']).toMatch(
        /^postgres:\/\/gridx:\$\{POSTGRES_PASSWORD\}@postgres:5432\/gridx$/,
      )
      // Stored files go into the database with --database: no folder to share, none named.
      expect(s.command).not.toContain('--blob-dir')
      expect(s.depends_on).toEqual({ postgres: { condition: 'service_healthy' } })
      expect(s.healthcheck?.test.join(' ')).toContain('/health')
    }
    expect(a.environment).toEqual(b.environment)
    const data = (s: Service) => s.volumes?.find((v) => v.endsWith(':/var/lib/gridx'))
    expect(data(a)).toBe('gridx-a-data:/var/lib/gridx')
    expect(data(b)).toBe('gridx-b-data:/var/lib/gridx')
    expect(svc('postgres').image).toBe('${POSTGRES_IMAGE:-postgres:16}')
  })

  test('the worker names both coordinators; nginx waits for both to be healthy', () => {
    expect(svc('worker').environment?.['GRIDX_COORDINATOR']).toBe(COORDINATORS.join(','))
    expect(svc('nginx').depends_on).toEqual(
      Object.fromEntries(COORDINATORS.map((c) => [c, { condition: 'service_healthy' }])),
    )
    expect(svc('nginx').volumes).toContain('./nginx-ha.conf:/etc/nginx/conf.d/default.conf:ro')
  })

  test('docker compose accepts the file, and refuses it without a database password', () => {
    const skip = noCompose()
    if (skip) return console.warn(`skipped: ${skip}`)
    const config = (env: Record<string, string>) =>
      Bun.spawnSync([...compose, '-f', join(ROOT, COMPOSE), 'config', '-q'], {
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
        stdout: 'pipe',
        stderr: 'pipe',
      })
    const ok = config({ POSTGRES_PASSWORD: 'secret' })
    expect(ok.stderr.toString()).not.toMatch(/error|invalid|unsupported|not allowed/i)
    expect(ok.exitCode, ok.stderr.toString()).toBe(0)
    const refused = config({})
    expect(refused.exitCode).not.toBe(0)
    expect(refused.stderr.toString()).toContain('set POSTGRES_PASSWORD to the database password')
  })
})

describe(NGINX, () => {
  const conf = read(NGINX)

  test('round-robins over both coordinators, fails over, and passes the WebSocket upgrade on', () => {
    const upstream = /upstream gridx_coordinators \{([^}]*)\}/.exec(conf)?.[1] ?? ''
    const servers = [...upstream.matchAll(/^\s*server (\S+)/gm)].map((m) => m[1])
    expect(servers).toEqual(COORDINATORS.map((c) => `${c}:8081`))
    expect(conf).toMatch(/proxy_next_upstream error timeout/)
    expect(conf).toMatch(/proxy_connect_timeout \d+s;/)
    const ws = /location \/ws\/worker \{([^}]*)\}/.exec(conf)?.[1] ?? ''
    expect(ws).toContain('proxy_set_header Upgrade $http_upgrade;')
    expect(ws).toContain('proxy_set_header Connection $gridx_connection;')
    expect(ws).toContain('proxy_pass http://gridx_coordinators;')
    expect(ws).toMatch(/proxy_read_timeout 1h;/)
  })

  test('nginx -t accepts it', () => {
    if (!has('nginx'))
      return console.warn('skipped: nginx is not installed (scripts/test-deps.sh installs it)')
    const dir = mkdtempSync(join(tmpdir(), 'gridx-deploy-nginx-'))
    try {
      // The compose service names do not resolve here: loopback stands in for them.
      let site = conf
      for (const c of COORDINATORS) site = site.replaceAll(`server ${c}:8081`, `server 127.0.0.1:8081`)
      // nginx -t binds nothing; the port only has to be valid.
      site = site.replace('listen 80;', 'listen 127.0.0.1:18080;')
      writeFileSync(join(dir, 'site.conf'), site)
      writeFileSync(
        join(dir, 'nginx.conf'),
        `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n  include ${dir}/site.conf;\n}\n`,
      )
      const r = Bun.spawnSync(['nginx', '-t', '-p', dir, '-c', join(dir, 'nginx.conf')], {
        stdout: 'pipe',
        stderr: 'pipe',
      })
      expect(r.exitCode, r.stderr.toString()).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('systemd: one coordinator per machine on a shared database', () => {
  test('the coordinator unit reads the env file that names the database; workers may name several', () => {
    expect(read('deploy/gridx-coordinator.service')).toMatch(
      /^EnvironmentFile=-\/etc\/gridx\/coordinator\.env$/m,
    )
    expect(read('deploy/coordinator.env')).toMatch(
      /^#GRIDX_DATABASE_URL=postgres:\/\/gridx:PASSWORD@[\w.-]+:5432\/gridx$/m,
    )
    expect(read('deploy/worker.env')).toMatch(/^#GRIDX_COORDINATOR=[\w.-]+,[\w.-]+$/m)
    // The guide's section says how: the database to create, the env line, backups.
    const guide = read('docs/SETUP_GUIDE.md')
    const section = guide.slice(guide.indexOf('## Several coordinators on PostgreSQL'))
    for (const said of ['createdb', 'GRIDX_DATABASE_URL=postgres://', 'pg_dump', 'When a coordinator dies'])
      expect(section).toContain(said)
  })
})
