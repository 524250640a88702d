import { describe, expect, test } from 'bun:test'
import { GridError } from '../../src/errors'
import { classifyFailure, installCommand } from '../../src/worker/env/installer'
import { envKey } from '../../src/worker/env/key'
import { pythonSatisfies } from '../../src/worker/env/python-version'
import { packagePolicy, shownIndex } from '../../src/worker/policy'

const facts = {
  python: '3.11.2',
  platform: 'linux-x86_64/cpython-311-x86_64-linux-gnu/glibc-2.36',
  pip: true,
  uv: 'none' as const,
}

describe('package environments (pure parts)', () => {
  test('requires-python clauses against the image Python', () => {
    expect(pythonSatisfies('3.11.2', '>=3.10')).toBe(true)
    expect(pythonSatisfies('3.11.2', '>=3.10,<3.11')).toBe(false)
    expect(pythonSatisfies('3.11.2', '==3.11.*')).toBe(true)
    expect(pythonSatisfies('3.11.2', '~=3.12')).toBe(false)
    expect(pythonSatisfies('3.12.0', '~=3.10')).toBe(true)
    expect(pythonSatisfies('3.11.2', '!=3.11.2')).toBe(false)
  })

  test('the key changes with every fact that decides what gets installed', () => {
    const base = {
      imageId: 'sha256:a',
      python: '3.11.2',
      platform: 'p',
      requirements: ['numpy>=1'],
      index: 'https://i',
      allowSource: false,
    }
    const k = envKey(base)
    expect(envKey({ ...base })).toBe(k)
    for (const change of [
      { imageId: 'sha256:b' },
      { python: '3.11.3' },
      { platform: 'q' },
      { requirements: ['numpy>=2'] },
      { index: 'https://j' },
      { allowSource: true },
    ])
      expect(envKey({ ...base, ...change })).not.toBe(k)
  })

  test('pip: wheels only, the owner index, --trusted-host only for plain http', () => {
    const https = installCommand(facts, { index: 'https://pypi.org/simple', allowSource: false })!.cmd
    expect(https).toContain('--only-binary')
    expect(https).not.toContain('--trusted-host')
    const http = installCommand(facts, { index: 'http://mirror.lan:3141/simple', allowSource: true })!.cmd
    expect(http.slice(http.indexOf('--trusted-host'), http.indexOf('--trusted-host') + 2)).toEqual([
      '--trusted-host',
      'mirror.lan:3141',
    ])
    expect(http).not.toContain('--only-binary')
    expect(
      installCommand({ ...facts, uv: 'path' }, { index: 'https://x/simple', allowSource: false })!.tool,
    ).toBe('uv')
    expect(
      installCommand({ ...facts, pip: false }, { index: 'https://x/simple', allowSource: false }),
    ).toBeUndefined()
  })

  test('the node is blamed before the package: an unreachable index also says "no matching distribution"', () => {
    const unreachable =
      "WARNING: Retrying (Retry(total=4)) after connection broken by 'NewConnectionError(Failed to establish a new connection: [Errno 111] Connection refused)'\nERROR: No matching distribution found for x"
    expect(classifyFailure(unreachable).retryable).toBe(true)
    expect(classifyFailure('ERROR: No matching distribution found for nosuch').retryable).toBe(false)
    expect(classifyFailure('ERROR: ResolutionImpossible: conflicting dependencies').retryable).toBe(false)
    expect(classifyFailure('OSError: [Errno 28] No space left on device').retryable).toBe(true)
  })

  test('owner choices: --no-packages, a bad index, host networking refused, passwords not logged', () => {
    expect(packagePolicy({ packages: false })).toBeNull()
    expect(packagePolicy({})).toEqual({
      index: 'https://pypi.org/simple',
      network: 'bridge',
      cacheBytes: 10 * 1024 ** 3,
      allowSource: false,
    })
    expect(() => packagePolicy({ packageIndex: 'ftp://x/simple' })).toThrow(GridError)
    expect(() => packagePolicy({ installNetwork: 'host' })).toThrow(/'host' is not allowed/)
    expect(shownIndex('https://bob:s3cret@mirror.lan/simple')).not.toContain('s3cret')
  })
})
