import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { JobView } from '../../src/protocol/api'
import { connect, hello } from '../support/coordinator'
import { signedResult, testWorker } from '../support/worker-keys'
import { type Grid, gridx, startGrid, tempDir } from './harness'

// `gridx submit` with packages, driven as a user would (the compiled binary, a real coordinator),
// with a worker played over the real socket: what is said before submitting, what is refused
// before anything is sent, and how a failed install ends on the submitter's terminal. The real
// worker's installs are the worker half's tests.

let grid: Grid
let alice: Record<string, string>
let work: string

beforeAll(async () => {
  grid = await startGrid()
  alice = await grid.user('alice')
  work = tempDir('pkg-cli')
})
afterAll(async () => {
  await grid.close()
})

const run = (args: string[]) => gridx(args, alice, { cwd: work, timeoutMs: 60_000 })
const jobs = async () => JobView.array().parse(JSON.parse((await run(['jobs', '--all', '--json'])).stdout))
const SCRIPT = [
  '# /// script',
  '# requires-python = ">=3.10"',
  '# dependencies = ["Requests<3", "numpy>=1.26"]',
  '# ///',
  'import numpy',
  '',
].join('\n')

describe('gridx submit with packages', () => {
  test('says what the job needs before submitting, and gridx status shows it', async () => {
    writeFileSync(join(work, 'job.py'), SCRIPT)
    const r = await run(['submit', 'job.py', '--detach'])
    expect(r.code).toBe(0)
    expect(r.stderr).toContain(
      "gridx: the job needs 2 packages (from job.py's '# /// script' block): numpy>=1.26, requests<3",
    )
    const id = r.stdout.trim()
    const s = await run(['status', id])
    expect(s.stdout).toContain('  packages numpy>=1.26, requests<3 (Python >=3.10)')
    const plain = await run(['submit', 'job.py', '--detach', '--no-deps', '--json'])
    expect(JobView.parse(JSON.parse(plain.stdout))).toMatchObject({ requirements: [], requiresPython: null })
    for (const j of await jobs()) await run(['cancel', j.id])
  })

  test('a bad requirement is refused naming the file and line, before anything is uploaded', async () => {
    const before = (await jobs()).length
    mkdirSync(join(work, 'proj'), { recursive: true })
    writeFileSync(join(work, 'proj/main.py'), 'print(1)\n')
    writeFileSync(join(work, 'proj/data.bin'), 'x'.repeat(1000))
    writeFileSync(join(work, 'proj/requirements.txt'), 'numpy\n--extra-index-url http://10.0.0.1/simple\n')
    const r = await run(['submit', 'proj', '--entry', 'main.py'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(
      `gridx: ${join('proj', 'requirements.txt')} line 2: '--extra-index-url http://10.0.0.1/simple': pip options`,
    )
    expect(r.stderr).not.toContain('uploaded')
    expect((await jobs()).length).toBe(before)
  })

  test('an install failure ends the job on the terminal with the reason, exit 125, unbilled', async () => {
    const login = await fetch(`http://${grid.coordinator}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'alice', password: 'password-123' }),
    })
    const { token } = (await login.json()) as { token: string }
    const w = testWorker('worker-cli-pkg')
    const sock = connect(grid.wsPort, token)
    expect(await sock.opened).toBe(true)
    const h = hello(w) as Extract<ReturnType<typeof hello>, { type: 'hello' }>
    sock.send({ ...h, name: 'pkgbox', policy: { ...h.policy, packages: true } })
    await sock.next('welcome')
    const submitting = run(['submit', 'job.py'])
    const { job } = await sock.next('job.assign', 30_000)
    expect(job.requirements).toEqual(['numpy>=1.26', 'requests<3'])
    const reason = 'ERROR: Could not find a version that satisfies the requirement numpy>=1.26'
    sock.send(
      signedResult(
        w,
        { jobId: job.jobId, attempt: job.attempt },
        {
          outcome: 'install_failed',
          exitCode: null,
          error: reason,
          retryable: false,
        },
      ),
    )
    await sock.next('job.ack')
    const r = await submitting
    expect(r.code).toBe(125)
    expect(r.stderr).toContain(
      `gridx: job ${job.jobId} did not start: its Python packages could not be installed on worker pkgbox: ${reason}. Nothing was billed.`,
    )
    // the whole escrow comes back
    const held = /it may cost up to ([\d.]+) credits/.exec(r.stderr)![1]
    expect(r.stderr).toContain(`cost 0 credits (${held} of the escrow returned)`)
    const s = await run(['status', job.jobId, '--json'])
    expect(JSON.parse(s.stdout)).toMatchObject({
      state: 'failed',
      outcome: 'install_failed',
      costMc: 0,
      billedMs: 0,
    })
    sock.ws.close()
  })
})
