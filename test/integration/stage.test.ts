import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ArchiveEntry } from '../../src/protocol/archive'
import { connectDocker, dockerCandidates, type DockerRuntime } from '../../src/worker/docker'
import type { ContainerSpec } from '../../src/worker/runtime'

// The stage program between a job container's init and the job, against real Docker: it copies
// the job's files into the tmpfs working directory, then becomes the job's command.

const BB_IMAGE = 'gridx-local/busybox:latest'
/** An image with busybox as its entry point, and one with no shell at all (only a `cat`). */
const ENTRY_IMAGE = 'gridx-test/stage-entrypoint:1'
const NO_SHELL_IMAGE = 'gridx-test/stage-no-shell:1'

let docker: DockerRuntime
let buildDir: string

function build(tag: string, dockerfile: string) {
  writeFileSync(join(buildDir, 'Dockerfile'), dockerfile)
  const r = Bun.spawnSync(['docker', 'build', '-q', '-t', tag, buildDir])
  if (r.exitCode !== 0) throw new Error(`docker build ${tag}: ${r.stderr.toString()}`)
}

beforeAll(async () => {
  docker = await connectDocker(dockerCandidates({ dockerHost: undefined, home: '/root', uid: 0 }))
  buildDir = mkdtempSync(join(tmpdir(), 'gridx-stage-'))
  Bun.spawnSync(['cp', '/bin/busybox', join(buildDir, 'busybox')])
  build(ENTRY_IMAGE, `FROM ${BB_IMAGE}\nENTRYPOINT ["/bin/echo", "entrypoint:"]\n`)
  build(NO_SHELL_IMAGE, 'FROM scratch\nCOPY busybox /bin/cat\n')
})
afterAll(() => {
  rmSync(buildDir, { recursive: true, force: true })
  for (const image of [ENTRY_IMAGE, NO_SHELL_IMAGE]) {
    const prepared = Bun.spawnSync(['docker', 'images', '-q', '--filter', `label=gridx.prepare=${image}`])
    const ids = prepared.stdout.toString().split('\n').filter(Boolean)
    Bun.spawnSync(['docker', 'rmi', '-f', ...ids, image])
  }
})

const file = (path: string, text: string | Uint8Array, mode = 0o644): ArchiveEntry => ({
  path,
  type: 'file',
  data: typeof text === 'string' ? Buffer.from(text) : text,
  mode,
})
const dir = (path: string): ArchiveEntry => ({ path, type: 'dir', data: new Uint8Array(0), mode: 0o755 })

/** Runs one container to its end; returns its exit status and output. */
async function run(image: string, cmd: string[], files: ArchiveEntry[], workdirBytes = 16 * 1024 ** 2) {
  const prepared = await docker.prepare(image)
  const spec: ContainerSpec = {
    name: `gridx-stage-test-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
    image: prepared,
    cmd,
    env: ['PATH=/usr/local/bin:/usr/bin:/bin'],
    files,
    workdirBytes,
    labels: { 'gridx.worker': 'stage-test', 'gridx.job': 'stage-test' },
    cpus: 1,
    memoryBytes: 128 * 1024 ** 2,
  }
  let stdout = ''
  let stderr = ''
  const c = await docker.start(spec, (stream, data) => {
    if (stream === 'stdout') stdout += data.toString()
    else stderr += data.toString()
  })
  try {
    const exit = await c.wait()
    return { code: exit.exitCode, stdout, stderr }
  } finally {
    await c.remove()
  }
}

describe('the stage program', () => {
  test('copies nested files into the tmpfs working directory, as the job user, modes kept', async () => {
    const r = await run(
      BB_IMAGE,
      ['sh', '-c', 'ls -ln . sub | sort; cat sub/b.txt; ./tool.sh; mount | grep " /gridx/job "'],
      [
        file('a.txt', 'A'),
        dir('sub'),
        file('sub/b.txt', 'deep\n'),
        file('tool.sh', '#!/bin/sh\necho tool ran\n', 0o755),
      ],
    )
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/-rw-r--r-- +1 65534 +65534 +1 .* a\.txt/)
    expect(r.stdout).toMatch(/-rwxr-xr-x +1 65534 +65534 .* tool\.sh/)
    expect(r.stdout).toMatch(/drwxr-xr-x +2 65534 +65534 .* sub/)
    expect(r.stdout).toContain('deep\ntool ran\n')
    expect(r.stdout).toMatch(/^tmpfs on \/gridx\/job type tmpfs \(rw,nosuid,nodev,.*size=16384k/m)
  })

  test('the staging directory is root-owned: the job can read it but not write to it', async () => {
    const r = await run(
      BB_IMAGE,
      [
        'sh',
        '-c',
        'cat /gridx/in/a.txt; echo; touch /gridx/in/x 2>&1; echo more >> /gridx/in/a.txt 2>&1; true',
      ],
      [file('a.txt', 'staged')],
    )
    expect(r.stdout).toStartWith('staged\n')
    expect(r.stdout).toContain('touch: /gridx/in/x: Permission denied')
    expect(r.stderr).toContain("can't create /gridx/in/a.txt: Permission denied")
  })

  test('files larger than the working directory: exit 125 and a message saying which limit', async () => {
    const r = await run(BB_IMAGE, ['true'], [file('big.bin', new Uint8Array(3 * 1024 ** 2))], 1024 ** 2)
    expect(r.code).toBe(125)
    expect(r.stderr).toContain(
      "gridx: the job's files do not fit in its working directory (/gridx/job/big.bin)",
    )
    expect(r.stderr).toContain('--max-disk')
  })

  test('a command missing from the image: exit 127 and the PATH it searched', async () => {
    const r = await run(BB_IMAGE, ['no-such-command', 'x'], [])
    expect(r.code).toBe(127)
    expect(r.stderr).toBe(
      'gridx: no-such-command: command not found in the image (PATH=/usr/local/bin:/usr/bin:/bin)\n',
    )
  })

  test('a file that is not executable: exit 126', async () => {
    const r = await run(BB_IMAGE, ['/gridx/job/data.txt'], [file('data.txt', 'not a program')])
    expect(r.code).toBe(126)
    expect(r.stderr).toContain('gridx: /gridx/job/data.txt: cannot run it: Permission denied')
  })

  test('preparing an image removes what an older gridx prepared from it', async () => {
    const id = Bun.spawnSync(['docker', 'image', 'inspect', '-f', '{{.Id}}', NO_SHELL_IMAGE])
      .stdout.toString()
      .trim()
      .replace(/^sha256:/, '')
      .slice(0, 24)
    const older = `gridx-prepared:${id}-v0`
    // Left by an interrupted run: what this gridx prepares from the image.
    const left = Bun.spawnSync([
      'docker',
      'images',
      '-q',
      '--filter',
      `label=gridx.prepare=${NO_SHELL_IMAGE}`,
    ])
    Bun.spawnSync(['docker', 'rmi', '-f', ...left.stdout.toString().split('\n').filter(Boolean)])
    expect(Bun.spawnSync(['docker', 'tag', NO_SHELL_IMAGE, older]).exitCode).toBe(0)
    const tag = await docker.prepare(NO_SHELL_IMAGE)
    expect(tag).toStartWith(`gridx-prepared:${id}-v2-`) // then the stage program's digest
    expect(await docker.hasImage(older)).toBe(false)
    expect(await docker.hasImage(tag)).toBe(true)
  })

  test("the image's own entry point still runs, after the stage program", async () => {
    const r = await run(ENTRY_IMAGE, ['hello'], [file('a.txt', 'A')])
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('entrypoint: hello\n')
  })

  test('an image with no shell at all still gets its files', async () => {
    const r = await run(NO_SHELL_IMAGE, ['cat', 'data.txt'], [file('data.txt', 'no shell needed\n')])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('no shell needed\n')
  })
})
