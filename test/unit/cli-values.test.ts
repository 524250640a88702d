import { describe, expect, test } from 'bun:test'
import { exitCodeFor, jsonError } from '../../src/cli/exit-codes'
import { nearest } from '../../src/cli/program'
import { checkImage, imageProblem, parseCpus, parsePriority, parseTimeout } from '../../src/cli/submit-values'

describe('submit values in the user’s terms', () => {
  test('--cpus: not a number, too small, too large, each said as such', () => {
    expect(parseCpus(undefined)).toBe(1)
    expect(parseCpus('0.5')).toBe(0.5)
    expect(parseCpus(2)).toBe(2)
    expect(() => parseCpus('abc')).toThrow(/--cpus 'abc' is not a number: give how many CPUs/)
    expect(() => parseCpus('NaN')).toThrow(/is not a number/)
    expect(() => parseCpus('0')).toThrow(/--cpus 0 is too small: a job asks for at least 0.01/)
    expect(() => parseCpus('1000')).toThrow(/--cpus 1000 is more than a job may ask for: at most 256/)
  })
  test('--timeout: compound durations, and a bound said in durations rather than timeoutMs', () => {
    expect(parseTimeout('1h30m')).toBe(5_400_000)
    expect(() => parseTimeout('500ms')).toThrow(/--timeout 500ms is too short: a job gets at least 1s/)
    expect(() => parseTimeout('8d')).toThrow(/--timeout 8d is too long/)
  })
  test('--priority: a whole number in range', () => {
    expect(parsePriority('-5')).toBe(-5)
    expect(() => parsePriority('high')).toThrow(/--priority 'high' must be a whole number from -100 to 100/)
    expect(() => parsePriority('101')).toThrow(/from -100 to 100/)
  })
  test('--image: Docker references pass, others are refused with the reason', () => {
    for (const ok of [
      'python:3.12-slim',
      'busybox',
      'gridx-local/python:bookworm',
      'ghcr.io/lab/tool:1.2',
      'registry.lab:5000/a/b_c__d:v1',
      'localhost/x',
      `python@sha256:${'a'.repeat(64)}`,
    ])
      expect({ ok, problem: imageProblem(ok) }).toEqual({ ok, problem: undefined })
    expect(imageProblem('Python:3')).toMatch(/lowercase: 'Python' has capitals \(try 'python'\)/)
    expect(imageProblem('python:3 slim')).toMatch(/space/)
    expect(imageProblem('a//b')).toMatch(/empty part/)
    expect(imageProblem('python:-x')).toMatch(/tag '-x' is not one/)
    expect(imageProblem('py--thon_')).toMatch(/not a repository name/)
    expect(imageProblem('x@sha256:12')).toMatch(/not a digest/)
    expect(() => checkImage('BAD//x')).toThrow(/--image 'BAD\/\/x' is not a Docker image name/)
  })
})

describe('exit codes and JSON errors', () => {
  test('bad values exit 2, logins 4, doctor 3, the rest 1', () => {
    for (const c of ['usage', 'bad_cpus', 'bad_duration', 'bad_image', 'bad_request', 'no_script'])
      expect(exitCodeFor(c)).toBe(2)
    for (const c of ['not_logged_in', 'bad_credentials', 'unauthorized']) expect(exitCodeFor(c)).toBe(4)
    expect(exitCodeFor('checks_failed')).toBe(3)
    expect(exitCodeFor('coordinator_unreachable')).toBe(1)
    expect(JSON.parse(jsonError('usage', 'say "x"'))).toEqual({
      error: { code: 'usage', message: 'say "x"' },
    })
  })
  test('an unknown command names the nearest', () => {
    const names = ['submit', 'status', 'jobs', 'logs', 'login', 'logout', 'completion', 'version']
    expect(nearest('sumbit', names)).toBe('submit')
    expect(nearest('jbos', names)).toBe('jobs')
    expect(nearest('comp', names)).toBe('completion')
    expect(nearest('lgout', names)).toBe('logout')
    expect(nearest('xyzzy', names)).toBeUndefined()
  })
})
