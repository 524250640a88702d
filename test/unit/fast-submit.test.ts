import { describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import type { CommandModule } from 'yargs'
import { submitCommand } from '../../src/cli/commands/submit'
import { parseSubmitFast } from '../../src/cli/fast-submit'
import { gridxYargs } from '../../src/cli/program'

/** What yargs gives `gridx submit ARGS` (the real program's settings), or the usage error it raises. */
async function viaYargs(args: string[]): Promise<Record<string, unknown> | string> {
  let seen: Record<string, unknown> | undefined
  const wired = submitCommand(() => {})
  const capture = { ...wired, handler: (a: Record<string, unknown>) => void (seen = a) }
  try {
    await gridxYargs(['submit', ...args], [capture as unknown as CommandModule<object, never>]).parseAsync()
  } catch (err) {
    return `error: ${String(err)}`
  }
  if (!seen) throw new Error(`yargs ran no handler for ${JSON.stringify(args)}`)
  return comparable(seen)
}

/** A parse without yargs' own bookkeeping ($0, the command word) and without unset keys. */
function comparable(flags: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(flags)) {
    if (k === '$0' || k === '_' || v === undefined) continue
    out[k] = v
  }
  return out
}

/** Checks that the fast parser either declines `args` or agrees with yargs on every key. */
async function agrees(args: string[]): Promise<boolean> {
  const fast = parseSubmitFast(args)
  if (fast === undefined) return false
  const flags: unknown = await viaYargs(args)
  const mine: unknown = comparable(fast)
  expect({ args, flags: mine }).toEqual({ args, flags })
  return true
}

describe('gridx submit without yargs', () => {
  test('the usual lines are parsed exactly as yargs parses them', async () => {
    const lines = [
      [],
      ['job.py'],
      ['--detach', 'job.py'],
      ['-d', 'job.py', '--json'],
      ['job.py', '--quiet', '--image', 'gridx-local/python:bookworm', '--cpus', '1', '--memory', '512m'],
      ['--coordinator', '127.0.0.1:8081', '--image', 'busybox', '--', 'sh', '-c', 'echo hi'],
      ['--coordinator-ip', 'grid.lab', 'job.py', '--', 'a', 'b1', '--x'],
      ['--http-port', '9081', '--ws-port', '9080', 'job.py'],
      ['--image=busybox', '--timeout=90s', '--cpus=0.5', '--priority=7', '--', 'true'],
      ['job.py', '--file', 'a.csv', '--file', 'b/', '--output', 'out', '-o', 'out2'],
      ['job.py', '--no-deps', '--no-download', '-q'],
      ['job.py', '--deps', '--requirements', 'req.txt', '-r', 'r2.txt'],
      ['project/', '--entry', 'main.py', '--ca-cert', 'ca.pem'],
      ['job.py', '--image', 'a', '--image', 'b', '--cpus', '2', '--cpus', '3'],
      ['123', '--timeout', '90'],
      ['job.py', '--image', ''],
      ['job.py', '--json', '--no-json'],
      // --cpus and --priority are text, checked by submit itself (src/cli/submit-values.ts).
      ['--cpus', 'abc', 'job.py'],
      ['--cpus', '1e3', '--priority', '7x', 'job.py'],
    ]
    for (const args of lines) expect(await agrees(args)).toBe(true)
  })

  test('lines yargs must answer (help, errors, unusual forms) are left to it', () => {
    const declined = [
      ['--help'],
      ['job.py', '--bogus'],
      ['a.py', 'b.py'],
      ['-dq', 'job.py'],
      ['--httpPort', '1', 'job.py'],
      ['--priority', '-5', 'job.py'],
      ['--image'],
      ['--file', 'data.csv', 'job.py'],
      ['--file=data.csv', 'job.py'],
      ['--detach', 'true', 'job.py'],
      ['--detach=false', 'job.py'],
      ['-x', 'job.py'],
      ['-', 'job.py'],
      ['job.py', '--', 'echo', '1.50'],
      ['job.py', '--', '0x1f'],
    ]
    for (const args of declined)
      expect({ args, fast: parseSubmitFast(args) }).toEqual({ args, fast: undefined })
  })

  test('on random lines, whatever it parses matches yargs', async () => {
    const word = fc.constantFrom(
      'job.py',
      'x',
      '7',
      '0.5',
      '',
      '--',
      '-d',
      '-q',
      '-o',
      '-r',
      '-5',
      'true',
      '--detach',
      '--no-detach',
      '--json',
      '--quiet',
      '--image',
      '--image=busybox',
      '--cpus',
      '--cpus=2',
      '--priority',
      '--file',
      '--coordinator',
      '--coordinator-ip',
      '--http-port',
      '--no-deps',
      '--download',
      '--entry',
      '--timeout',
      '--bogus',
    )
    let parsed = 0
    await fc.assert(
      fc.asyncProperty(fc.array(word, { maxLength: 7 }), async (args) => {
        if (await agrees(args)) parsed++
      }),
      { numRuns: 400, seed: 15 },
    )
    // The property means something only if many random lines took the fast path.
    expect(parsed).toBeGreaterThan(40)
  })
})
