import { describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isMetricsToken, readMetricsToken } from '../../src/coordinator/metrics/token'
import { loadConfig } from '../../src/config'

describe('serve --metrics-token-file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gridx-metrics-token-'))
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text)
    return join(dir, name)
  }

  test("the file's trimmed content is the token", () => {
    expect(readMetricsToken(file('ok', '  abc123\n'), '--metrics-token-file')).toBe('abc123')
  })

  test('a missing or empty file, or a token with spaces, stops the start with what to do', () => {
    const missing = join(dir, 'missing')
    expect(() => readMetricsToken(missing, '--metrics-token-file')).toThrow(
      `--metrics-token-file ${missing}: cannot read it (no such file): write a long random token into it`,
    )
    expect(() => readMetricsToken(file('empty', ' \n'), 'GRIDX_METRICS_TOKEN_FILE')).toThrow(
      'the file is empty',
    )
    expect(() => readMetricsToken(file('two', 'a b'), '--metrics-token-file')).toThrow('spaces')
    try {
      readMetricsToken(missing, '--metrics-token-file')
    } catch (err) {
      expect(err).toMatchObject({ code: 'bad_metrics_token' })
    }
    rmSync(dir, { recursive: true, force: true })
  })

  test('the flag before the environment; an empty flag is kept (and refused at start)', () => {
    const home = { GRIDX_HOME: mkdtempSync(join(tmpdir(), 'gridx-metrics-home-')) }
    expect(loadConfig({}, home).metricsTokenFile).toBeUndefined()
    expect(loadConfig({}, { ...home, GRIDX_METRICS_TOKEN_FILE: '/e' }).metricsTokenFile).toEqual({
      path: '/e',
      from: 'GRIDX_METRICS_TOKEN_FILE',
    })
    expect(
      loadConfig({ metricsTokenFile: '/f' }, { ...home, GRIDX_METRICS_TOKEN_FILE: '/e' }).metricsTokenFile,
    ).toEqual({ path: '/f', from: '--metrics-token-file' })
    rmSync(home.GRIDX_HOME, { recursive: true, force: true })
  })

  test('tokens compare whole, whatever their lengths', () => {
    expect(isMetricsToken('abc', 'abc')).toBe(true)
    expect(isMetricsToken('abcd', 'abc')).toBe(false)
    expect(isMetricsToken('', 'abc')).toBe(false)
  })
})
