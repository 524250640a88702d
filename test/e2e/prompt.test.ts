import { afterAll, beforeAll, expect, test } from 'bun:test'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { GRIDX, type Grid, startGrid, tempDir } from './harness'

// The prompts on a real pseudo-terminal: `script` gives gridx a TTY, and keys are typed into it
// through a pipe only after each prompt has appeared, the way a person would.
let grid: Grid
beforeAll(async () => {
  grid = await startGrid()
  await grid.user('alice', 'password-123')
})
afterAll(async () => {
  await grid.close()
})

/** Runs `gridx ARGS` on a pseudo-terminal; `keys` answers each prompt once it is shown. */
async function onTerminal(args: string[], home: string, keys: [RegExp, string][]) {
  const cmd = [GRIDX, ...args].join(' ')
  const proc = Bun.spawn(['script', '-qfec', cmd, '/dev/null'], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', GRIDX_HOME: home, TERM: 'dumb' },
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  let screen = ''
  void (async () => {
    const dec = new TextDecoder()
    for await (const chunk of proc.stdout) screen += dec.decode(chunk, { stream: true })
  })()
  const kill = setTimeout(() => proc.kill('SIGKILL'), 60_000)
  for (const [shown, typed] of keys) {
    while (!shown.test(screen) && proc.exitCode === null) await Bun.sleep(25)
    if (proc.exitCode !== null) break
    void proc.stdin.write(typed)
    await proc.stdin.flush()
  }
  const code = await proc.exited
  clearTimeout(kill)
  void proc.stdin.end()
  return { code, screen }
}

test('gridx login on a terminal asks for the user, then the password without echo, and logs in', async () => {
  const home = tempDir('prompt')
  const r = await onTerminal(['login', '--coordinator', grid.coordinator], home, [
    [/user: $/, 'alice\r'],
    [/password: $/, 'password-123\r'],
  ])
  expect(r.screen).not.toContain('AbortError')
  expect(r.screen).toContain(`logged in to http://${grid.coordinator} as 'alice'`)
  expect(r.screen).not.toContain('password-123')
  expect(r.code).toBe(0)
  const file = join(home, 'credentials.json')
  expect(existsSync(file)).toBe(true)
  expect(readFileSync(file, 'utf8')).toContain(`http://${grid.coordinator}`)
})

test('Ctrl-C at the password prompt stops gridx login and saves nothing', async () => {
  const home = tempDir('prompt-int')
  const r = await onTerminal(['login', '--coordinator', grid.coordinator], home, [
    [/user: $/, 'alice\r'],
    [/password: $/, '\u0003'],
  ])
  expect(r.screen).toContain('interrupted')
  expect(r.code).not.toBe(0)
  expect(existsSync(join(home, 'credentials.json'))).toBe(false)
})

test('after the prompts the terminal is back in its own mode, so Ctrl-C is a signal again', async () => {
  const bun = join(import.meta.dir, '../../node_modules/.bin/bun')
  const fixture = join(import.meta.dir, '../support/tty-mode.ts')
  const proc = Bun.spawn(['script', '-qfec', `${bun} ${fixture}`, '/dev/null'], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', TERM: 'dumb' },
    stdin: 'pipe',
    stdout: 'pipe',
  })
  let screen = ''
  const reading = (async () => {
    const dec = new TextDecoder()
    for await (const chunk of proc.stdout) screen += dec.decode(chunk, { stream: true })
  })()
  for (const [shown, typed] of [
    [/user: /, 'alice\r'],
    [/password: /, 'secret\r'],
  ] as const) {
    while (!shown.test(screen) && proc.exitCode === null) await Bun.sleep(25)
    void proc.stdin.write(typed)
    await proc.stdin.flush()
  }
  await proc.exited
  await reading
  expect(screen).toContain('answers=alice/secret same-mode=true')
}, 30_000)
