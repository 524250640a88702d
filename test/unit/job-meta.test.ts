import { describe, expect, test } from 'bun:test'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jobMeta, parseEnvFile } from '../../src/cli/job-meta-flags'
import { jobsQuery } from '../../src/cli/job-select'
import { globPattern } from '../../src/coordinator/store/listing-rules'
import { envProblem, labelsProblem } from '../../src/protocol/job-meta'
import { containerEnv, jobEnvProblem } from '../../src/worker/job-env'

describe('env files', () => {
  test('KEY=VALUE lines, comments, blank lines, export, quotes; = inside values', () => {
    const text =
      '\uFEFF# comment\n\nA=1\r\nexport B = two words \nC="quoted # not a comment"\nD=\'x\'\nE=a=b\nF=\n  # indented comment\n'
    expect(parseEnvFile(text, 'f.env')).toEqual({
      A: '1',
      B: 'two words',
      C: 'quoted # not a comment',
      D: 'x',
      E: 'a=b',
      F: '',
    })
  })

  test.each([
    ['A=1\nno equals here\n', "f.env, line 2: expected KEY=VALUE, got 'no equals here'"],
    ['\n\n=value\n', "f.env, line 3: expected KEY=VALUE, got '=value'"],
    ['GRIDX_JOB_ID=x\n', "f.env, line 1: 'GRIDX_JOB_ID' is reserved"],
    ['9LIVES=1\n', "f.env, line 1: '9LIVES' is not a valid environment variable name"],
    ['HOME=/root\n', "f.env, line 1: 'HOME' is set by the worker's sandbox"],
  ])('%j is refused with the line number', (text, message) => {
    expect(() => parseEnvFile(text, 'f.env')).toThrow(message)
  })

  test('-e wins over --env-file; an unreadable file and bad pairs are bad_env errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gridx-jobspec-unit-'))
    writeFileSync(join(dir, 'v.env'), 'A=file\nB=file\n')
    expect(jobMeta({ envFile: join(dir, 'v.env'), env: ['A=flag'] }).env).toEqual({ A: 'flag', B: 'file' })
    expect(() => jobMeta({ envFile: join(dir, 'none.env') })).toThrow("cannot read --env-file '")
    expect(() => jobMeta({ env: ['NOVALUE'] })).toThrow("-e takes KEY=VALUE (got 'NOVALUE')")
    expect(() => jobMeta({ env: ['gridx_x=1'] })).toThrow('is reserved')
    expect(() => jobMeta({ label: ['k'] })).toThrow('--label takes key=value')
    expect(() => jobMeta({ name: '' })).toThrow(
      '--name must be one line of visible text: job names may not be empty',
    )
    expect(jobMeta({})).toEqual({})
    expect(jobMeta({ name: 'n', label: ['a=1', 'b=x=y'] })).toEqual({
      name: 'n',
      labels: { a: '1', b: 'x=y' },
    })
  })
})

describe('limits', () => {
  test('count, per value and total sizes, at the limit and past it', () => {
    expect(
      envProblem(Object.fromEntries(Array.from({ length: 128 }, (_, i) => [`V${i}`, '']))),
    ).toBeUndefined()
    expect(envProblem(Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`V${i}`, ''])))).toContain(
      'at most 128',
    )
    expect(envProblem({ A: 'x'.repeat(32 * 1024 - 2) })).toBeUndefined()
    expect(envProblem({ A: 'x'.repeat(32 * 1024 - 1) })).toContain('at most 32768 bytes in all')
    expect(envProblem({ A: 'x'.repeat(32 * 1024 + 1) })).toContain('a value is at most 32768 bytes')
    expect(labelsProblem(Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, ''])))).toContain(
      'at most 32 labels',
    )
    expect(labelsProblem({ 'team/owner.x-y_z': 'ok' })).toBeUndefined()
  })
})

describe('the worker', () => {
  test('re-checks the environment it is sent and keeps the sandbox variables last', () => {
    expect(jobEnvProblem({ env: { GRIDX_OUTPUT: '/etc' } })).toContain('refused by this worker')
    expect(jobEnvProblem({ env: { OK: '1' } })).toBeUndefined()
    const env = containerEnv(
      { jobId: 'j1', env: { LANG: 'en_US.UTF-8', SEED: '7' }, array: null },
      { workdir: '/w', outputDir: '/out', pythonPath: '/env/site' },
    )
    expect(env).toEqual([
      'LANG=en_US.UTF-8',
      'PYTHONUNBUFFERED=1',
      'SEED=7',
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'HOME=/w',
      'GRIDX_JOB_ID=j1',
      'GRIDX_OUTPUT=/out',
      'PYTHONPATH=/env/site',
    ])
    // Whatever reaches it (an older coordinator's job), the sandbox's own values win.
    const forced = containerEnv(
      { jobId: 'j2', env: { PATH: '/evil', GRIDX_ARRAY_INDEX: '99' }, array: { id: 'a1', index: 3 } },
      { workdir: '/w', outputDir: '/out' },
    )
    // An array's member learns its place, and the job cannot say otherwise.
    expect(forced).toContain('GRIDX_ARRAY_ID=a1')
    expect(forced).toContain('GRIDX_ARRAY_INDEX=3')
    expect(forced.filter((e) => e.startsWith('GRIDX_ARRAY_INDEX='))).toHaveLength(1)
    expect(forced).toContain('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
    expect(forced).toContain('GRIDX_JOB_ID=j2')
    expect(forced.filter((e) => e.startsWith('PATH=') || e.startsWith('GRIDX_JOB_ID='))).toHaveLength(2)
  })
})

describe('gridx jobs flags', () => {
  test('live states by default, every state with --all, --state lists; bad values are usage errors', () => {
    expect(jobsQuery({}).states).toEqual(['queued', 'assigned', 'running'])
    expect(jobsQuery({ all: true }).states).toBeUndefined()
    expect(jobsQuery({ state: ['failed,cancelled', 'running'] }).states).toEqual([
      'failed',
      'cancelled',
      'running',
    ])
    expect(jobsQuery({ label: ['a=1', 'b=2'] }).labels).toEqual({ a: '1', b: '2' })
    expect(() => jobsQuery({ state: ['done'] })).toThrow(
      "--state takes queued, assigned, running, succeeded, failed, cancelled (got 'done')",
    )
    expect(() => jobsQuery({ limit: 0 })).toThrow('--limit takes a whole number from 1 to 1000')
  })

  test('name globs: * and ? are wildcards, LIKE characters literal, case folded', () => {
    expect(globPattern('Sweep*')).toBe('sweep%')
    expect(globPattern('a?c')).toBe('a_c')
    expect(globPattern('50%_x')).toBe('50\\%\\_x')
  })
})
