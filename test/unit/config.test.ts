import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  coordinatorAddress,
  DEFAULT_HTTP_PORT,
  DEFAULT_WS_PORT,
  loadConfig,
  namedCoordinator,
} from '../../src/config'
import { failure } from '../support/failure'
import { testCa } from '../support/certs'

let home: string

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'gridx-config-'))
})
afterEach(() => {
  rmSync(home, { recursive: true, force: true })
})

const writeConfig = (data: unknown) =>
  writeFileSync(join(home, 'config.json'), typeof data === 'string' ? data : JSON.stringify(data))

describe('loadConfig defaults', () => {
  test('with nothing set: the documented ports, no coordinator, no credentials', () => {
    const c = loadConfig({}, { GRIDX_HOME: home })
    expect(c).toEqual({
      home,
      httpPort: 8081,
      wsPort: 8080,
      coordinator: undefined,
      coordinatorFrom: undefined,
      context: undefined,
      user: undefined,
      password: undefined,
      caCert: undefined,
      tlsCert: undefined,
      tlsKey: undefined,
      publicUrl: undefined,
      database: undefined,
      blobDir: undefined,
      quota: undefined,
      maxArray: undefined,
      maxHeartbeats: undefined,
      signup: 'invite',
      invite: undefined,
      discovery: true,
      join: undefined,
      logFormat: 'text',
      logRequests: false,
      metricsTokenFile: undefined,
      proxy: {
        https: undefined,
        http: undefined,
        noProxy: { all: false, rules: [], ignored: [], from: undefined },
      },
      file: {},
    })
    expect(DEFAULT_HTTP_PORT).toBe(8081)
    expect(DEFAULT_WS_PORT).toBe(8080)
  })

  test('the config is frozen', () => {
    const c = loadConfig({}, { GRIDX_HOME: home })
    expect(Object.isFrozen(c)).toBe(true)
    expect(() => {
      ;(c as { httpPort: number }).httpPort = 1
    }).toThrow()
  })

  test('GRIDX_HOME unset or empty falls back to ~/.gridx', () => {
    expect(loadConfig({}, {}).home).toMatch(/[/\\]\.gridx$/)
    expect(loadConfig({}, { GRIDX_HOME: '' }).home).toMatch(/[/\\]\.gridx$/)
  })

  test('only the env object passed in is read', () => {
    const c = loadConfig({}, { GRIDX_HOME: home, GRIDX_HTTP_PORT: '7001' })
    expect(c.httpPort).toBe(7001)
    expect(c.coordinator).toBeUndefined()
  })
})

describe('loadConfig precedence: flag > env > config.json > default', () => {
  test('ports', () => {
    writeConfig({ httpPort: 3001, wsPort: 3000 })
    const env = { GRIDX_HOME: home, GRIDX_HTTP_PORT: '2001', GRIDX_WS_PORT: '2000' }
    expect(loadConfig({}, { GRIDX_HOME: home })).toMatchObject({ httpPort: 3001, wsPort: 3000 })
    expect(loadConfig({}, env)).toMatchObject({ httpPort: 2001, wsPort: 2000 })
    expect(loadConfig({ httpPort: 1001, wsPort: 1000 }, env)).toMatchObject({ httpPort: 1001, wsPort: 1000 })
    // Each port is resolved on its own.
    expect(loadConfig({ wsPort: 1000 }, { GRIDX_HOME: home })).toMatchObject({ httpPort: 3001, wsPort: 1000 })
  })

  test('sign-up mode: --signup, then GRIDX_SIGNUP, then config.json, then invite', () => {
    expect(loadConfig({}, { GRIDX_HOME: home }).signup).toBe('invite')
    writeConfig({ signup: 'closed' })
    expect(loadConfig({}, { GRIDX_HOME: home }).signup).toBe('closed')
    expect(loadConfig({}, { GRIDX_HOME: home, GRIDX_SIGNUP: 'open' }).signup).toBe('open')
    expect(loadConfig({ signup: 'invite' }, { GRIDX_HOME: home, GRIDX_SIGNUP: 'open' }).signup).toBe('invite')
    expect(loadConfig({}, { GRIDX_HOME: home, GRIDX_SIGNUP: '' }).signup).toBe('closed')
  })

  test('a sign-up mode that is not one says which are', () => {
    const e = failure(() => loadConfig({}, { GRIDX_HOME: home, GRIDX_SIGNUP: 'everyone' }))
    expect(e.code).toBe('bad_signup')
    expect(e.message).toBe(
      "GRIDX_SIGNUP 'everyone' is not a sign-up mode: use invite (new accounts need an invite), open (anyone who can reach the port) or closed (no one)",
    )
    writeConfig({ signup: 'public' })
    expect(failure(() => loadConfig({}, { GRIDX_HOME: home })).code).toBe('bad_config')
  })

  test('log format and request lines: flag, then GRIDX_LOG_FORMAT / GRIDX_LOG_REQUESTS, then config.json, then text and off', () => {
    expect(loadConfig({}, { GRIDX_HOME: home })).toMatchObject({ logFormat: 'text', logRequests: false })
    writeConfig({ logFormat: 'json', logRequests: true })
    expect(loadConfig({}, { GRIDX_HOME: home })).toMatchObject({ logFormat: 'json', logRequests: true })
    const env = { GRIDX_HOME: home, GRIDX_LOG_FORMAT: 'Text', GRIDX_LOG_REQUESTS: '0' }
    expect(loadConfig({}, env)).toMatchObject({ logFormat: 'text', logRequests: false })
    expect(loadConfig({ logFormat: 'json', logRequests: true }, env)).toMatchObject({
      logFormat: 'json',
      logRequests: true,
    })
  })

  test('a log format that is not one, or request logging that is not on or off, says what to use', () => {
    const e = failure(() => loadConfig({ logFormat: 'xml' }, { GRIDX_HOME: home }))
    expect(e.code).toBe('bad_log_format')
    expect(e.message).toBe(
      "--log-format 'xml' is not a log format: use text (lines for people) or json (one JSON object per line, for jq and log shippers)",
    )
    expect(failure(() => loadConfig({}, { GRIDX_HOME: home, GRIDX_LOG_FORMAT: 'yaml' })).message).toStartWith(
      "GRIDX_LOG_FORMAT 'yaml' is not a log format",
    )
    expect(failure(() => loadConfig({}, { GRIDX_HOME: home, GRIDX_LOG_REQUESTS: 'maybe' })).code).toBe(
      'bad_log_requests',
    )
    writeConfig({ logFormat: 'xml' })
    expect(failure(() => loadConfig({}, { GRIDX_HOME: home })).code).toBe('bad_config')
  })

  test('the invite code: --invite, then GRIDX_INVITE', () => {
    expect(loadConfig({}, { GRIDX_HOME: home, GRIDX_INVITE: ' gxi_env ' }).invite).toBe('gxi_env')
    expect(loadConfig({ invite: 'gxi_flag' }, { GRIDX_HOME: home, GRIDX_INVITE: 'gxi_env' }).invite).toBe(
      'gxi_flag',
    )
  })

  test('an empty environment variable counts as unset', () => {
    writeConfig({ httpPort: 3001 })
    expect(loadConfig({}, { GRIDX_HOME: home, GRIDX_HTTP_PORT: '' }).httpPort).toBe(3001)
  })

  test('port 0 (any free port) is a real value and wins over lower levels', () => {
    writeConfig({ httpPort: 3001 })
    expect(loadConfig({ httpPort: 0 }, { GRIDX_HOME: home, GRIDX_HTTP_PORT: '2001' }).httpPort).toBe(0)
    expect(loadConfig({}, { GRIDX_HOME: home, GRIDX_HTTP_PORT: '0' }).httpPort).toBe(0)
  })

  test('coordinator: flag, then GRIDX_COORDINATOR, then COORDINATOR_IP, then (after the last login) config.json', () => {
    writeConfig({ coordinator: 'from-file' })
    const all = { GRIDX_HOME: home, GRIDX_COORDINATOR: 'from-env', COORDINATOR_IP: 'from-ip' }
    const named = (flags: { coordinator?: string }, env: Record<string, string>, last?: string) =>
      namedCoordinator(loadConfig(flags, env), last)
    expect(named({ coordinator: 'from-flag' }, all, 'last')).toBe('from-flag')
    expect(named({}, all, 'last')).toBe('from-env')
    expect(named({}, { GRIDX_HOME: home, COORDINATOR_IP: 'from-ip' }, 'last')).toBe('from-ip')
    // The last login (the current context) is explicit: it beats the file's default.
    expect(named({}, { GRIDX_HOME: home }, 'last')).toBe('last')
    expect(named({}, { GRIDX_HOME: home })).toBe('from-file')
    expect(named({ coordinator: '' }, { GRIDX_HOME: home, GRIDX_COORDINATOR: '' })).toBe('from-file')
    expect(loadConfig({}, { GRIDX_HOME: home }).coordinator).toBeUndefined()
  })

  test('a context named by --context beats GRIDX_COORDINATOR; GRIDX_CONTEXT does not', () => {
    const env = { GRIDX_HOME: home, GRIDX_COORDINATOR: 'from-env' }
    expect(namedCoordinator(loadConfig({ context: 'lab' }, env), 'lab.lan')).toBe('lab.lan')
    expect(namedCoordinator(loadConfig({}, { ...env, GRIDX_CONTEXT: 'lab' }), 'lab.lan')).toBe('from-env')
    expect(loadConfig({}, { GRIDX_HOME: home, GRIDX_CONTEXT: 'lab' }).context).toEqual({
      name: 'lab',
      from: 'GRIDX_CONTEXT',
    })
    expect(() => loadConfig({ context: 'no spaces' }, env)).toThrow(/is not a context name/)
  })

  test('user and password: flag, then environment', () => {
    const env = { GRIDX_HOME: home, GRIDX_USER: 'env-user', GRIDX_PASSWORD: 'env-pass' }
    expect(loadConfig({}, env)).toMatchObject({ user: 'env-user', password: 'env-pass' })
    expect(loadConfig({ user: 'flag-user', password: 'flag-pass' }, env)).toMatchObject({
      user: 'flag-user',
      password: 'flag-pass',
    })
  })

  test('serve --max-heartbeats: flag, then GRIDX_MAX_HEARTBEATS, then maxHeartbeats in config.json', () => {
    writeConfig({ maxHeartbeats: 200 })
    expect(loadConfig({}, { GRIDX_HOME: home }).maxHeartbeats).toBe('200')
    expect(loadConfig({}, { GRIDX_HOME: home, GRIDX_MAX_HEARTBEATS: '300' }).maxHeartbeats).toBe('300')
    const flag = loadConfig({ maxHeartbeats: '400' }, { GRIDX_HOME: home, GRIDX_MAX_HEARTBEATS: '300' })
    expect(flag.maxHeartbeats).toBe('400')
  })

  test('serve --quota: flag, then GRIDX_QUOTA, then quota in config.json', () => {
    writeConfig({ quota: '1g' })
    expect(loadConfig({}, { GRIDX_HOME: home }).quota).toBe('1g')
    expect(loadConfig({}, { GRIDX_HOME: home, GRIDX_QUOTA: '3g' }).quota).toBe('3g')
    expect(loadConfig({ quota: '500m' }, { GRIDX_HOME: home, GRIDX_QUOTA: '3g' }).quota).toBe('500m')
  })

  test('serve --blob-dir: flag, then GRIDX_BLOB_DIR, then blobDir in config.json (relative to its folder)', () => {
    expect(loadConfig({}, { GRIDX_HOME: home }).blobDir).toBeUndefined()
    writeConfig({ blobDir: 'shared/blobs' })
    expect(loadConfig({}, { GRIDX_HOME: home }).blobDir).toBe(join(home, 'shared/blobs'))
    expect(loadConfig({}, { GRIDX_HOME: home, GRIDX_BLOB_DIR: '/mnt/a' }).blobDir).toBe('/mnt/a')
    expect(loadConfig({ blobDir: '/mnt/b' }, { GRIDX_HOME: home, GRIDX_BLOB_DIR: '/mnt/a' }).blobDir).toBe(
      '/mnt/b',
    )
  })

  test('the config file is kept for settings that only it holds', () => {
    writeConfig({ host: '127.0.0.1', dataDir: '/srv/gridx', slots: 4, name: 'lab-pc' })
    expect(loadConfig({}, { GRIDX_HOME: home }).file).toEqual({
      host: '127.0.0.1',
      dataDir: '/srv/gridx',
      slots: 4,
      name: 'lab-pc',
    })
  })
})

describe('loadConfig: bad port values', () => {
  test.each([
    ['abc', 'GRIDX_HTTP_PORT'],
    ['-1', 'GRIDX_HTTP_PORT'],
    ['65536', 'GRIDX_HTTP_PORT'],
    ['80.5', 'GRIDX_HTTP_PORT'],
    ['8081abc', 'GRIDX_HTTP_PORT'],
  ])('GRIDX_HTTP_PORT=%p is refused, naming the variable', (value, name) => {
    const err = failure(() => loadConfig({}, { GRIDX_HOME: home, GRIDX_HTTP_PORT: value }))
    expect(err.code).toBe('bad_port')
    expect(err.message).toContain(`${name} '${value}' is not a port: use a number from 1 to 65535`)
  })

  test('GRIDX_WS_PORT is checked too', () => {
    expect(failure(() => loadConfig({}, { GRIDX_HOME: home, GRIDX_WS_PORT: 'x' })).message).toStartWith(
      "GRIDX_WS_PORT 'x' is not a port",
    )
  })

  test('bad flag values name the flag', () => {
    expect(failure(() => loadConfig({ httpPort: 70000 }, { GRIDX_HOME: home })).message).toStartWith(
      "--http-port '70000' is not a port",
    )
    expect(failure(() => loadConfig({ wsPort: NaN }, { GRIDX_HOME: home })).message).toStartWith(
      "--ws-port 'NaN' is not a port",
    )
    expect(failure(() => loadConfig({ wsPort: -5 }, { GRIDX_HOME: home })).code).toBe('bad_port')
  })

  test('a flag wins outright: the variable below it is not read at all', () => {
    expect(loadConfig({ httpPort: 9000 }, { GRIDX_HOME: home, GRIDX_HTTP_PORT: 'junk' }).httpPort).toBe(9000)
  })

  test('bounds 1 and 65535 are accepted', () => {
    expect(loadConfig({}, { GRIDX_HOME: home, GRIDX_HTTP_PORT: '1' }).httpPort).toBe(1)
    expect(loadConfig({}, { GRIDX_HOME: home, GRIDX_WS_PORT: '65535' }).wsPort).toBe(65535)
  })

  // BUG (src/config.ts port(), ~line 52): Number() is too lenient for a port. A blank or
  // whitespace-only variable (GRIDX_HTTP_PORT=' ') becomes 0, i.e. "any free port", silently;
  // hex ('0x1F90') and exponent ('1e3') forms are accepted too. Also the message says
  // "1 to 65535" while 0 is accepted on purpose. Fix: trim, treat '' as unset, require
  // /^\d{1,5}$/, and say "0 to 65535 (0 = any free port)" or refuse 0 for client commands.
  test('a blank port variable counts as unset; hex and exponent port strings are refused', () => {
    expect(loadConfig({}, { GRIDX_HOME: home, GRIDX_HTTP_PORT: ' ' }).httpPort).toBe(8081)
    for (const value of ['0x1F90', '1e3']) {
      expect(failure(() => loadConfig({}, { GRIDX_HOME: home, GRIDX_HTTP_PORT: value })).code).toBe(
        'bad_port',
      )
    }
  })
})

describe('loadConfig: config.json', () => {
  test('a file that is not JSON gives a clear error naming the file and what to do', () => {
    writeConfig('{ "httpPort": 9000, }')
    const err = failure(() => loadConfig({}, { GRIDX_HOME: home }))
    expect(err.code).toBe('bad_config')
    expect(err.message).toStartWith(`${join(home, 'config.json')} is not valid JSON (`)
    expect(err.message).toEndWith('): fix or remove it')
  })

  test('a wrong type names the file and the field', () => {
    writeConfig({ httpPort: 'eighty' })
    const err = failure(() => loadConfig({}, { GRIDX_HOME: home }))
    expect(err.code).toBe('bad_config')
    expect(err.message).toStartWith(`${join(home, 'config.json')}: `)
    expect(err.message).toContain('httpPort')
  })

  test('an out-of-range port in the file is refused', () => {
    writeConfig({ wsPort: 70000 })
    expect(failure(() => loadConfig({}, { GRIDX_HOME: home })).message).toContain('wsPort')
  })

  test('an unknown key (a typo) is refused, naming it', () => {
    writeConfig({ http_port: 9000 })
    const err = failure(() => loadConfig({}, { GRIDX_HOME: home }))
    expect(err.code).toBe('bad_config')
    expect(err.message).toContain('http_port')
  })

  test('a file that is JSON but not an object is refused', () => {
    writeConfig('[1, 2]')
    expect(failure(() => loadConfig({}, { GRIDX_HOME: home })).code).toBe('bad_config')
  })

  test('a bad file is reported even when flags set every value', () => {
    writeConfig('nope')
    expect(
      failure(() => loadConfig({ httpPort: 1, wsPort: 2, coordinator: 'h' }, { GRIDX_HOME: home })).code,
    ).toBe('bad_config')
  })
})

describe('loadConfig: --ca-cert', () => {
  test('the file is read and parsed at load: flag, then GRIDX_CA_CERT, then caCert in config.json', () => {
    const { ca } = testCa(home)
    const other = join(home, 'other.pem')
    writeFileSync(other, readFileSync(ca))
    writeConfig({ caCert: 'ca.pem' })
    const fromFile = loadConfig({}, { GRIDX_HOME: home }).caCert
    expect(fromFile?.path).toBe(ca) // relative to GRIDX_HOME
    expect(fromFile?.pem).toContain('-----BEGIN CERTIFICATE-----')
    expect(fromFile?.certs[0]?.subject).toContain('CN=Grid-X-test-CA')
    expect(loadConfig({}, { GRIDX_HOME: home, GRIDX_CA_CERT: other }).caCert?.path).toBe(other)
    expect(loadConfig({ caCert: ca }, { GRIDX_HOME: home, GRIDX_CA_CERT: other }).caCert?.path).toBe(ca)
  })

  test('a missing file names the flag, the path and why', () => {
    const err = failure(() => loadConfig({ caCert: join(home, 'nope.pem') }, { GRIDX_HOME: home }))
    expect(err.code).toBe('bad_tls_file')
    expect(err.message).toBe(`--ca-cert ${join(home, 'nope.pem')}: cannot read it: no such file`)
    const env = failure(() => loadConfig({}, { GRIDX_HOME: home, GRIDX_CA_CERT: home }))
    expect(env.message).toBe(`GRIDX_CA_CERT ${home}: cannot read it: it is a directory, not a file`)
  })

  test('a file that is not a PEM certificate is refused, saying what it is instead', () => {
    const { key } = testCa(home)
    const junk = join(home, 'junk.pem')
    writeFileSync(junk, 'hello')
    expect(failure(() => loadConfig({ caCert: junk }, { GRIDX_HOME: home })).message).toStartWith(
      `--ca-cert ${junk} is not a PEM certificate: it has no '-----BEGIN CERTIFICATE-----' block`,
    )
    expect(failure(() => loadConfig({ caCert: key }, { GRIDX_HOME: home })).message).toContain(
      'it holds a private key, not a certificate',
    )
    const broken = join(home, 'broken.pem')
    writeFileSync(broken, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')
    expect(failure(() => loadConfig({ caCert: broken }, { GRIDX_HOME: home })).message).toContain(
      'certificate 1 of the file is damaged',
    )
  })
})

describe('coordinatorAddress', () => {
  test('the configured coordinator wins over the last login; ports come from the config', () => {
    const c = loadConfig({ coordinator: 'grid.lan', httpPort: 9081, wsPort: 9080 }, { GRIDX_HOME: home })
    const a = coordinatorAddress(c, 'last.lan')
    expect(a.httpUrl).toBe('http://grid.lan:9081')
    expect(a.wsUrl).toBe('ws://grid.lan:9080/ws/worker')
  })

  test('without one: the last login, then this machine', () => {
    const c = loadConfig({}, { GRIDX_HOME: home })
    expect(coordinatorAddress(c, 'last.lan:7000').httpUrl).toBe('http://last.lan:7000')
    expect(coordinatorAddress(c).httpUrl).toBe('http://127.0.0.1:8081')
  })

  test('a bad configured coordinator is refused before any connection', () => {
    const c = loadConfig({}, { GRIDX_HOME: home, GRIDX_COORDINATOR: 'ftp://x' })
    expect(() => coordinatorAddress(c)).toThrow(/is not a coordinator address/)
  })
})
