import { describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { acceptedEnv, flagsOf, invocationOf, ROOT, shellWords, subcommands } from '../support/cli-surface'
import { BB_IMAGE, GRIDX, gridx, PY_IMAGE, tempDir } from './harness'

// The deployment files must not drift from the binary: every flag they pass exists in that
// subcommand's --help, every environment variable is one the program reads.
const UNITS = ['deploy/gridx-coordinator.service', 'deploy/gridx-worker.service']
const ENV_FILES = ['deploy/coordinator.env', 'deploy/worker.env']
const COMPOSE = 'docker-compose-network.yml'

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8')
const has = (cmd: string) => Bun.spawnSync(['sh', '-c', `command -v ${cmd}`]).exitCode === 0

/** Values of `Key=` lines of a unit file. */
function unitValues(text: string, key: string): string[] {
  return [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!)
}

function expectKnownCommand(words: string[], where: string): void {
  const inv = invocationOf(words, words.join(' '))
  expect(inv, `${where}: runs gridx`).toBeDefined()
  expect(subcommands(), `${where}: gridx ${inv!.sub}`).toContain(inv!.sub!)
  const known = flagsOf(inv!.sub)
  for (const flag of inv!.flags) expect(known, `${where}: gridx ${inv!.sub} ${flag}`).toContain(flag)
}

function expectKnownEnv(names: string[], where: string): void {
  const known = acceptedEnv()
  for (const name of names) expect(known, `${where}: ${name}`).toContain(name)
}

describe('systemd units', () => {
  for (const unit of UNITS) {
    test(`${unit}: gridx flags and environment the binary accepts`, () => {
      const text = read(unit)
      const exec = unitValues(text, 'ExecStart')
      expect(exec).toHaveLength(1)
      expectKnownCommand(shellWords(exec[0]!), unit)
      const env = unitValues(text, 'Environment').map((v) => v.split('=')[0]!)
      expect(env).toContain('GRIDX_HOME')
      expectKnownEnv(env, unit)
      expect(unitValues(text, 'Restart')).toEqual(['on-failure'])
      expect(unitValues(text, 'KillSignal')).toEqual(['SIGTERM'])
    })
  }

  test('the worker may reach the Docker socket and has time to drain on SIGTERM', () => {
    const text = read('deploy/gridx-worker.service')
    expect(unitValues(text, 'SupplementaryGroups')).toEqual(['docker'])
    expect(unitValues(text, 'RestrictAddressFamilies')[0]).toContain('AF_UNIX')
    const drain = /--drain-timeout (\d+)m/.exec(unitValues(text, 'ExecStart')[0]!)
    const stop = /^(\d+)min$/.exec(unitValues(text, 'TimeoutStopSec')[0] ?? '')
    expect(drain && stop && Number(stop[1]) > Number(drain[1])).toBe(true)
  })

  test('systemd-analyze verify finds nothing to complain about', () => {
    if (!has('systemd-analyze')) return console.warn('skipped: no systemd-analyze on this machine')
    const dir = mkdtempSync(join(tmpdir(), 'gridx-units-'))
    try {
      // verify wants ExecStart's binary to exist: point it at the one just built.
      const paths = UNITS.map((u) => {
        const path = join(dir, u.split('/')[1]!)
        writeFileSync(path, read(u).replaceAll('/usr/local/bin/gridx', GRIDX))
        return path
      })
      const r = Bun.spawnSync(['systemd-analyze', 'verify', ...paths], { stdout: 'pipe', stderr: 'pipe' })
      const said = (r.stdout.toString() + r.stderr.toString())
        .split('\n')
        // Outside a booted systemd (CI containers) these lines are about the machine, not the units.
        .filter((l) => l && !/System has not been booted|Failed to connect to bus|docker\.service/.test(l))
      expect(said).toEqual([])
      expect(r.exitCode).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('environment files', () => {
  for (const file of ENV_FILES) {
    test(`${file} sets only variables gridx reads`, () => {
      const names = read(file)
        .split('\n')
        .map((l) => l.replace(/^#/, ''))
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => l.split('=')[0]!)
      expect(names.length).toBeGreaterThan(0)
      expectKnownEnv(names, file)
    })
  }
})

describe(COMPOSE, () => {
  interface Service {
    command: string[]
    environment: Record<string, string>
    volumes: string[]
  }
  const file = Bun.YAML.parse(read(COMPOSE)) as { services: Record<string, Service> }

  test('a coordinator and a worker that mounts the Docker socket, with flags and env gridx accepts', () => {
    expect(Object.keys(file.services).sort()).toEqual(['coordinator', 'worker'])
    for (const [name, svc] of Object.entries(file.services)) {
      expectKnownCommand(svc.command, `${COMPOSE} ${name}`)
      expectKnownEnv(Object.keys(svc.environment), `${COMPOSE} ${name}`)
    }
    expect(file.services['worker']!.volumes).toContain('/var/run/docker.sock:/var/run/docker.sock')
    expect(file.services['coordinator']!.command).toContain('serve')
  })

  const compose = has('docker-compose') ? ['docker-compose'] : ['docker', 'compose']
  const noCompose = () =>
    Bun.spawnSync([...compose, 'version'], { stdout: 'pipe', stderr: 'pipe' }).exitCode !== 0
      ? 'neither docker-compose nor the docker compose plugin is installed'
      : undefined

  test('docker compose accepts the file', () => {
    const skip = noCompose()
    if (skip) return console.warn(`skipped: ${skip}`)
    const r = Bun.spawnSync([...compose, '-f', join(ROOT, COMPOSE), 'config', '-q'], {
      stdout: 'pipe',
      stderr: 'pipe',
    })
    // Exit 0 is the verdict; stderr may carry unrelated notices (e.g. a Python deprecation warning).
    expect(r.stderr.toString()).not.toMatch(/error|invalid|unsupported|not allowed/i)
    expect(r.exitCode, r.stderr.toString()).toBe(0)
  })

  test('the documented compose steps bring up a coordinator and a worker that run a job', async () => {
    const skip = noCompose()
    if (skip) return console.warn(`skipped: ${skip}`)
    const port = 20000 + (process.pid % 20000)
    // The local Debian image stands in for debian:bookworm-slim (no registry here); own host ports.
    const env = {
      ...process.env,
      GRIDX_BASE_IMAGE: PY_IMAGE,
      GRIDX_HTTP_PORT: String(port),
      GRIDX_WS_PORT: String(port + 1),
      WORKER_IMAGES: 'gridx-local/*',
      GRIDX_USER: 'alice',
      GRIDX_PASSWORD: 'a long secret',
    }
    const dc = (args: string[]) => {
      const r = Bun.spawnSync(
        [...compose, '-p', `gxcompose${process.pid}`, '-f', join(ROOT, COMPOSE), ...args],
        {
          env,
          stdout: 'pipe',
          stderr: 'pipe',
        },
      )
      if (r.exitCode !== 0)
        throw new Error(`compose ${args.join(' ')}: ${r.stdout.toString()}${r.stderr.toString()}`)
      return r.stdout.toString()
    }
    const home = tempDir('compose-user')
    try {
      dc(['up', '-d', 'coordinator'])
      const deadline = Date.now() + 30_000
      while (
        !(await fetch(`http://127.0.0.1:${port}/health`).then(
          (r) => r.ok,
          () => false,
        ))
      ) {
        if (Date.now() > deadline)
          throw new Error(`the coordinator container did not answer:\n${dc(['logs'])}`)
        await Bun.sleep(250)
      }
      // As SETUP_GUIDE.md says: register through the worker service (the first account: the
      // operator), then start it; the operator invites the next user.
      dc(['run', '--rm', 'worker', 'gridx', 'register'])
      dc(['up', '-d', 'worker'])
      const invite = JSON.parse(
        dc(['run', '--rm', 'worker', 'gridx', 'invite', '--json']).trim().split('\n').at(-1)!,
      ) as {
        code: string
      }
      const user = { GRIDX_HOME: home, GRIDX_COORDINATOR: `127.0.0.1:${port}` }
      const bob = ['register', '--invite', invite.code, '--user', 'bob', '--password', 'password-123']
      expect((await gridx(bob, user)).code).toBe(0)
      const r = await gridx(['submit', '-q', '--image', BB_IMAGE, '--', 'echo', 'from compose'], user, {
        timeoutMs: 90_000,
      })
      expect(r.stderr).toBe('')
      expect(r.stdout).toBe('from compose\n')
      const workers = JSON.parse((await gridx(['workers', '--json'], user)).stdout) as unknown[]
      expect(workers).toHaveLength(1)
    } finally {
      dc(['down', '-v', '--timeout', '30'])
      rmSync(home, { recursive: true, force: true })
    }
  }, 180_000)
})
