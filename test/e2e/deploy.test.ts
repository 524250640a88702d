import { describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { acceptedEnv, flagsOf, invocationOf, ROOT, shellWords, subcommands } from '../support/cli-surface'
import { GRIDX } from './harness'

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
  const compose = Bun.YAML.parse(read(COMPOSE)) as { services: Record<string, Service> }

  test('a coordinator and a worker that mounts the Docker socket, with flags and env gridx accepts', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['coordinator', 'worker'])
    for (const [name, svc] of Object.entries(compose.services)) {
      expectKnownCommand(svc.command, `${COMPOSE} ${name}`)
      expectKnownEnv(Object.keys(svc.environment), `${COMPOSE} ${name}`)
    }
    expect(compose.services['worker']!.volumes).toContain('/var/run/docker.sock:/var/run/docker.sock')
    expect(compose.services['coordinator']!.command).toContain('serve')
  })

  test('docker compose accepts the file', () => {
    const cmd = has('docker-compose') ? ['docker-compose'] : ['docker', 'compose']
    const r = Bun.spawnSync([...cmd, '-f', join(ROOT, COMPOSE), 'config', '-q'], {
      stdout: 'pipe',
      stderr: 'pipe',
    })
    if (
      r.exitCode !== 0 &&
      /unknown (shorthand flag|command)|is not a docker command/.test(r.stderr.toString())
    ) {
      return console.warn('skipped: neither docker-compose nor the docker compose plugin is installed')
    }
    expect(r.stderr.toString()).toBe('')
    expect(r.exitCode).toBe(0)
  })
})
