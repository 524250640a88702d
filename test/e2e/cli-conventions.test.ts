// The conventions of gh and docker, through the compiled binary: help everywhere, a nearest
// command, completion scripts that load, the exit code table and --json errors that parse.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { subcommands } from '../support/cli-surface'
import { type Grid, GRIDX, gridx, startGrid, tempDir } from './harness'

let grid: Grid
let alice: Record<string, string>
let work: string

beforeAll(async () => {
  grid = await startGrid()
  alice = await grid.user('alice')
  work = tempDir('cli-conv')
  writeFileSync(join(work, 'job.py'), 'print("hi")\n')
})
afterAll(async () => {
  await grid.close()
})

/** Runs gridx in the scripts' directory with `env`. */
const run = (args: string[], env: Record<string, string>) => gridx(args, env, { cwd: work })

describe('exit codes and --json errors', () => {
  test('a dozen failures: each exits with its documented code and prints one parseable JSON error', async () => {
    const nobody = grid.env(tempDir('nobody'))
    const cases: { args: string[]; env: Record<string, string>; exit: number; code: string | RegExp }[] = [
      { args: ['sumbit', '--json'], env: alice, exit: 2, code: 'usage' },
      { args: ['jobs', '--bogus', '--json'], env: alice, exit: 2, code: 'usage' },
      { args: ['status', '--json'], env: alice, exit: 2, code: 'usage' },
      { args: ['submit', 'job.py', '--cpus', 'abc', '--json'], env: alice, exit: 2, code: 'bad_cpus' },
      { args: ['submit', 'job.py', '--cpus', '1000', '--json'], env: alice, exit: 2, code: 'bad_cpus' },
      {
        args: ['submit', 'job.py', '--timeout', '500ms', '--json'],
        env: alice,
        exit: 2,
        code: 'bad_duration',
      },
      { args: ['submit', 'job.py', '--memory', '1x', '--json'], env: alice, exit: 2, code: 'bad_memory' },
      { args: ['submit', 'job.py', '--image', 'Bad//x', '--json'], env: alice, exit: 2, code: 'bad_image' },
      { args: ['submit', 'missing.py', '--json'], env: alice, exit: 2, code: 'no_script' },
      {
        args: ['jobs', '--all', '--json', '--coordinator', 'http://[nope'],
        env: alice,
        exit: 2,
        code: 'bad_coordinator',
      },
      { args: ['jobs', '--all', '--json'], env: nobody, exit: 4, code: 'not_logged_in' },
      { args: ['credits', '--json'], env: nobody, exit: 4, code: 'not_logged_in' },
      {
        args: ['submit', 'job.py', '--priority', 'high', '--json'],
        env: alice,
        exit: 2,
        code: 'bad_priority',
      },
      { args: ['status', 'nosuchjob000', '--json'], env: alice, exit: 1, code: 'job_not_found' },
    ]
    for (const c of cases) {
      const r = await run(c.args, c.env)
      const line = r.stdout.trim()
      let parsed: { error?: { code?: string; message?: string } } = {}
      try {
        parsed = JSON.parse(line) as typeof parsed
      } catch {
        parsed = { error: { code: `unparsable: ${line}` } }
      }
      expect({ args: c.args, exit: r.code, code: parsed.error?.code }).toEqual({
        args: c.args,
        exit: c.exit,
        code: c.code as string,
      })
      expect(parsed.error?.message?.length ?? 0).toBeGreaterThan(5)
    }
  }, 120_000)

  test('without --json the same errors are words on stderr, with the same exit codes', async () => {
    const nobody = grid.env(tempDir('nobody'))
    const login = await run(['login', '--user', 'alice', '--password', 'wrong-password'], nobody)
    expect({ code: login.code, stderr: login.stderr }).toEqual({
      code: 4,
      stderr: expect.stringContaining('wrong user name or password'),
    })
    const cpus = await run(['submit', 'job.py', '--cpus', 'abc'], alice)
    expect(cpus.code).toBe(2)
    expect(cpus.stdout).toBe('')
    expect(cpus.stderr).toContain("--cpus 'abc' is not a number")
    const timeout = await run(['submit', 'job.py', '--timeout', '500ms'], alice)
    expect(timeout.stderr).toContain('--timeout 500ms is too short: a job gets at least 1s')
    expect(timeout.stderr).not.toContain('timeoutMs')
    const typo = await run(['sumbit'], alice)
    expect({ code: typo.code, stderr: typo.stderr }).toEqual({
      code: 2,
      stderr: expect.stringContaining('did you mean submit?'),
    })
  })

  test('a compound --timeout is taken; jobs --json explains a queued job as status --json does', async () => {
    const r = await run(['submit', 'job.py', '--timeout', '1h30m', '--detach', '--json'], alice)
    expect(r.code).toBe(0)
    const job = JSON.parse(r.stdout) as { id: string; timeoutMs: number }
    expect(job.timeoutMs).toBe(5_400_000)
    const list = JSON.parse((await run(['jobs', '--all', '--json'], alice)).stdout) as {
      id: string
      waiting: string | null
    }[]
    const status = JSON.parse((await run(['status', job.id, '--json'], alice)).stdout) as { waiting: string }
    expect(status.waiting).toContain('no worker is connected')
    expect(list.find((j) => j.id === job.id)?.waiting).toBe(status.waiting)
    // logs --json: JSON lines only (nothing has run: none at all), never raw output.
    const logs = await run(['logs', job.id, '--json'], alice)
    expect(logs.code).toBe(0)
    for (const l of logs.stdout.split('\n').filter(Boolean))
      expect(() => JSON.parse(l) as unknown).not.toThrow()
    await run(['cancel', job.id], alice)
  })

  test('a memory no connected worker offers is warned about, not refused', async () => {
    const r = await run(['submit', 'job.py', '--memory', '900g', '--detach'], alice)
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/no worker is connected|no connected worker offers/)
    await run(['cancel', r.stdout.trim()], alice)
  })
})

describe('help, version and completion', () => {
  test('-h works on every command and subcommand; help CMD is CMD --help; -V is version', async () => {
    const env = grid.env(tempDir('help'))
    const top = await gridx(['-h'], env)
    expect(top.code).toBe(0)
    for (const sub of [...subcommands(), 'credits grant', 'credits history']) {
      const h = await gridx([...sub.split(' '), '-h'], env)
      expect({ sub, code: h.code, usage: h.stdout.startsWith(`gridx ${sub}`) }).toEqual({
        sub,
        code: 0,
        usage: true,
      })
    }
    const viaHelp = await gridx(['help', 'submit'], env)
    expect(viaHelp.stdout).toBe((await gridx(['submit', '--help'], env)).stdout)
    for (const v of [['-V'], ['--version'], ['version']])
      expect((await gridx(v, env)).stdout).toMatch(/^gridx \d+\.\d+\.\d+/)
    expect(JSON.parse((await gridx(['-V', '--json'], env)).stdout)).toHaveProperty('version')
  }, 120_000)

  test('the bash script parses, registers itself and completes commands and flags', async () => {
    const script = (await gridx(['completion', 'bash'], {})).stdout
    const file = join(tempDir('completion'), 'gridx.bash')
    writeFileSync(file, script)
    expect(Bun.spawnSync(['bash', '-n', file]).exitCode).toBe(0)
    const probe = [
      `source ${file}`,
      'complete -p gridx',
      'COMP_WORDS=(gridx sub); COMP_CWORD=1; _gridx; echo "cmds: ${COMPREPLY[*]}"',
      'COMP_WORDS=(gridx submit --ti); COMP_CWORD=2; _gridx; echo "flags: ${COMPREPLY[*]}"',
      'COMP_WORDS=(gridx credits g); COMP_CWORD=2; _gridx; echo "subs: ${COMPREPLY[*]}"',
    ].join('\n')
    const r = Bun.spawnSync(['bash', '-c', probe])
    const text = r.stdout.toString()
    expect(text).toContain('complete -o default -F _gridx gridx')
    expect(text).toContain('cmds: submit')
    expect(text).toContain('flags: --timeout')
    expect(text).toContain('subs: grant')
  })

  test('the zsh and fish scripts parse (skipped where the shell is not installed)', async () => {
    for (const shell of ['zsh', 'fish']) {
      if (!Bun.which(shell)) {
        console.warn(`skipped: ${shell} is not installed (apt-get install ${shell})`)
        continue
      }
      const file = join(tempDir('completion'), `gridx.${shell}`)
      writeFileSync(file, (await gridx(['completion', shell], {})).stdout)
      const r = Bun.spawnSync([shell, '-n', file])
      expect({ shell, code: r.exitCode, err: r.stderr.toString() }).toEqual({ shell, code: 0, err: '' })
    }
    const fish = Bun.which('fish')
    if (fish) {
      const file = join(tempDir('completion'), 'gridx.fish')
      writeFileSync(file, (await gridx(['completion', 'fish'], {})).stdout)
      const r = Bun.spawnSync([fish, '-c', `source ${file}; complete -C 'gridx submit --ti'`])
      expect(r.stdout.toString()).toContain('--timeout')
    }
  })
})

describe('terminal manners', () => {
  /** Runs gridx under a pseudo-terminal (util-linux `script`), returning what the terminal got. */
  const inTerminal = (args: string[], env: Record<string, string>) =>
    Bun.spawnSync(['script', '-qec', [GRIDX, ...args].map((a) => `'${a}'`).join(' '), '/dev/null'], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', GRIDX_DISCOVERY: '0', ...env },
    }).stdout.toString()

  test('states and errors are coloured on a terminal only, never under NO_COLOR or --no-color', async () => {
    if (!Bun.which('script')) return console.warn('skipped: no script(1)')
    const d = await run(['submit', 'job.py', '--detach'], alice)
    const id = d.stdout.trim()
    const ESC = '\u001b['
    expect(inTerminal(['jobs'], alice)).toContain(`${ESC}33mqueued${ESC}0m`)
    expect(inTerminal(['jobs'], { ...alice, NO_COLOR: '1' })).not.toContain(ESC)
    expect(inTerminal(['jobs', '--no-color'], alice)).not.toContain(ESC)
    expect(inTerminal(['status', 'nosuchjob000'], alice)).toContain(`${ESC}31;1mgridx:`)
    // Piped: no colour at all.
    expect((await run(['jobs'], alice)).stdout).not.toContain(ESC)
    await run(['cancel', id], alice)
  })

  test('✓ and ✗ become ASCII outside a UTF-8 locale; verify - reads stdin', () => {
    const bad = Bun.spawnSync([GRIDX, 'verify', '-'], {
      stdin: Buffer.from('{"not":"a receipt"}'),
      env: { LANG: 'C' },
    })
    expect(bad.exitCode).toBe(1)
    expect(bad.stderr.toString()).toContain("'-' is not a Grid-X receipt")
    const doc = (env: Record<string, string>) =>
      Bun.spawnSync([GRIDX, 'doctor', '--coordinator', '127.0.0.1:1', '--no-docker', '--timeout', '1s'], {
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', GRIDX_HOME: tempDir('doc'), ...env },
      }).stdout.toString()
    const utf = doc({ LANG: 'C.UTF-8' })
    const ascii = doc({ LANG: 'C' })
    expect(utf).toContain('✗')
    expect(ascii).not.toMatch(/[✓✗—]/)
    expect(ascii).toMatch(/^x /m)
  })
})
