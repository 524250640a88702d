import { afterEach, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Subprocess } from 'bun'
import { BB_IMAGE, type Grid, gridx, spawnGridx, startGrid, tempDir } from './harness'

// Several coordinator addresses, end to end, with the compiled binary and real Docker. Without
// PostgreSQL there is one coordinator, reached two ways: through a TCP forwarder (its own
// process, first in the list) and directly (second). Killing the forwarder with SIGKILL cuts
// every connection through it at once, as a coordinator's machine that dies would: the worker
// must move to the other address within seconds, keep its running job, and the attached
// submitter must resume its output there, without a gap or a repeat.

let grid: Grid | undefined
let forwarder: Subprocess<'ignore', 'pipe', 'inherit'> | undefined
afterEach(async () => {
  forwarder?.kill('SIGKILL')
  forwarder = undefined
  await grid?.close()
  grid = undefined
})

/** Starts the forwarder in front of `port`; resolves with its own port. */
async function forward(port: number): Promise<number> {
  forwarder = Bun.spawn(
    [process.execPath, resolve(import.meta.dir, '../support/tcp-forward.ts'), String(port)],
    {
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'inherit',
    },
  )
  const reader = forwarder.stdout.getReader()
  const { value } = await reader.read()
  reader.releaseLock()
  const m = /listening (\d+)/.exec(new TextDecoder().decode(value))
  if (!m) throw new Error('the forwarder did not start')
  return Number(m[1])
}

test('SIGKILL of the coordinator a worker and a submitter use: both move to the next address, the job finishes once, its output arrives whole', async () => {
  grid = await startGrid(['--heartbeat', '500ms', '--lease-timeout', '20s'])
  const g = grid
  const direct = `127.0.0.1:${g.httpPort}`
  const via = `127.0.0.1:${await forward(g.httpPort)}`
  const list = `${via},${direct}`
  // The operator registers directly; alice and the worker's owner through the list, whose first
  // (the forwarder) answers, so that is where they start.
  const op = await g.user('op')
  const home = (n: string) => {
    const h = tempDir(`failover-${n}`)
    return { GRIDX_HOME: h, GRIDX_COORDINATOR: list }
  }
  const made = await gridx(['invite', '--json'], op)
  expect(made.code).toBe(0)
  const alice = { ...home('alice'), GRIDX_USER: 'alice', GRIDX_PASSWORD: 'password-123' }
  const reg = await gridx(['register', '--invite', (JSON.parse(made.stdout) as { code: string }).code], alice)
  expect(reg.code).toBe(0)
  // The login saved the whole list, under each address.
  const saved = JSON.parse(readFileSync(`${alice.GRIDX_HOME}/credentials.json`, 'utf8')) as {
    logins: Record<string, Record<string, { coordinator: string }>>
  }
  expect(Object.keys(saved.logins).sort()).toEqual([`http://${direct}`, `http://${via}`].sort())
  expect(saved.logins[`http://${via}`]!['alice']!.coordinator).toBe(list)

  const worker = spawnGridx(['work', '--name', 'w1', '--images', 'gridx-local/*', '--slots', '1'], alice)
  g.procs.push(worker)
  await worker.waitFor(new RegExp(`connected to http://${via.replace(/\./g, '\\.')} as worker w1`), 60_000)

  const n = 60
  const script = `for i in $(seq 1 ${n}); do echo line-$i; sleep 0.2; done`
  const sub = spawnGridx(['submit', '--image', BB_IMAGE, '--timeout', '2m', '--', 'sh', '-c', script], alice)
  g.procs.push(sub)
  await sub.waitFor(/line-10\n/, 60_000)
  const killedAt = Date.now()
  forwarder!.kill('SIGKILL')
  await forwarder!.exited

  const wsDirect = `ws://${direct}/ws/worker`.replace(/\./g, '\\.')
  await worker.waitFor(new RegExp(`lost: .*; moving to ${wsDirect} in`), 20_000)
  await worker.waitFor(new RegExp(`connected to http://${direct.replace(/\./g, '\\.')} as worker w1`), 20_000)
  const movedMs = Date.now() - killedAt
  console.log(`worker moved to the second address ${movedMs} ms after the SIGKILL`)
  expect(movedMs).toBeLessThan(15_000)

  expect(await sub.proc.exited).toBe(0)
  const lines = sub.stdout().trimEnd().split('\n')
  expect(lines).toEqual(Array.from({ length: n }, (_, i) => `line-${i + 1}`))
  expect(sub.stderr()).toContain('lost the connection to the coordinator')

  // One attempt: the job was not handed back and run again, it went on where it ran.
  const id = /job (\w+) queued/.exec(sub.stderr())![1]!
  const st = await gridx(['status', id, '--json'], alice)
  expect(st.code).toBe(0)
  const job = JSON.parse(st.stdout) as { state: string; attempts: unknown[] }
  expect(job.state).toBe('succeeded')
  expect(job.attempts).toHaveLength(1)

  // The first address is down for good: a plain command goes to the second, and stays there.
  const jobs = await gridx(['jobs', '--all', '--json'], alice)
  expect(jobs.code).toBe(0)
  expect((JSON.parse(jobs.stdout) as { id: string }[]).map((j) => j.id)).toContain(id)
  const after = JSON.parse(readFileSync(`${alice.GRIDX_HOME}/credentials.json`, 'utf8')) as {
    answered?: string
  }
  expect(after.answered).toBe(`http://${direct}`)
}, 120_000)

test('gridx doctor with several addresses: a section each, "1 of 2 coordinators answer", exit 3 only when none does', async () => {
  grid = await startGrid()
  const l = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const dead = l.port
  l.stop(true)
  const env = { GRIDX_HOME: tempDir('failover-doctor') }
  const live = `127.0.0.1:${grid.httpPort}`
  const one = await gridx(['doctor', '--no-docker', '--coordinator', `127.0.0.1:${dead},${live}`], env)
  expect(one.stdout).toContain(`[127.0.0.1:${dead}] http port`)
  expect(one.stdout).toContain(`✓ [${live}] health`)
  expect(one.stdout).toMatch(
    new RegExp(`! coordinators: 1 of 2 coordinators answer \\(http://127\\.0\\.0\\.1:${dead} does not\\)`),
  )
  expect(one.stdout).not.toMatch(/^✗ /m)
  expect(one.code).toBe(0)
  const none = await gridx(
    ['doctor', '--no-docker', '--coordinator', `127.0.0.1:${dead},127.0.0.1:${dead + 1}`],
    env,
  )
  expect(none.stdout).toContain('✗ coordinators: 0 of 2 coordinators answer')
  expect(none.code).toBe(3)
  const bad = await gridx(['doctor', '--no-docker', '--coordinator', `${live},,x`], env)
  expect(bad.stdout + bad.stderr).toContain(
    `address 2 of 3 in '${live},,x' (an empty element: remove the extra comma)`,
  )
}, 60_000)
