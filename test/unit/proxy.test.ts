import { describe, expect, test } from 'bun:test'
import { parseCoordinator } from '../../src/client/address'
import { networkError } from '../../src/client/network'
import {
  describeRoute,
  fetchProxy,
  isLoopback,
  noProxyMatch,
  parseNoProxy,
  parseProxyUrl,
  proxySettings,
  routeFor,
} from '../../src/client/proxy'
import { GridError } from '../../src/errors'

describe('proxy URLs', () => {
  test('host:port means http://host:port; ports default to 80 / 443', () => {
    expect(parseProxyUrl('proxy.lab:8888', 'HTTPS_PROXY')).toMatchObject({
      href: 'http://proxy.lab:8888',
      shown: 'http://proxy.lab:8888',
      host: 'proxy.lab',
      port: 8888,
      from: 'HTTPS_PROXY',
      hasAuth: false,
    })
    expect(parseProxyUrl('http://proxy.lab/', 'X').port).toBe(80)
    expect(parseProxyUrl('https://proxy.lab', 'X').port).toBe(443)
    expect(parseProxyUrl('  HTTP://Proxy.Lab:3128  ', 'X').href).toBe('http://proxy.lab:3128')
    expect(parseProxyUrl('http://[fd00::1]:3128', 'X')).toMatchObject({ host: 'fd00::1', port: 3128 })
  })

  test('credentials are kept for Bun but never shown', () => {
    const p = parseProxyUrl('http://al%40ice:p%3Ass%2Fw0rd@proxy:3128', 'https_proxy')
    expect(p.href).toBe('http://al%40ice:p%3Ass%2Fw0rd@proxy:3128')
    expect(p.shown).toBe('http://al%40ice:***@proxy:3128')
    expect(p.hasAuth).toBe(true)
    expect(JSON.stringify(describeRoute({ kind: 'proxy', proxy: p }))).not.toContain('w0rd')
  })

  test.each([
    ['socks5://proxy:1080', 'not socks5'],
    ['http://proxy:3128/path', 'no path'],
    ['http://proxy:3128/?q=1', 'no query'],
    ['http://proxy:99999', 'cannot be read'],
    ['http://pro xy:3128', 'spaces'],
    ['http://proxy:3128\r\nX-Evil: 1', 'control'],
    ['http://:3128', 'cannot be read'],
    ['http://u:%zz@proxy:3128', '%-escape'],
    ['x'.repeat(10_000), 'too long'],
  ])('%j is refused with a clear error', (value, why) => {
    let err: unknown
    try {
      parseProxyUrl(value, 'HTTPS_PROXY')
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(GridError)
    expect((err as GridError).code).toBe('bad_proxy')
    expect((err as GridError).message).toContain(why)
    expect((err as GridError).message).toContain('HTTPS_PROXY')
  })
})

describe('NO_PROXY', () => {
  const list = parseNoProxy(
    ' localhost, .corp.example, *.lab.test,intra ,10.0.0.0/8, 192.168.1.7, fd00::/8, [::2]:8081, grid:9000, <local>, 1.2.3.4/33, ,',
    'NO_PROXY',
  )
  test('domains match themselves and every name under them, case-insensitively', () => {
    expect(noProxyMatch(list, 'corp.example', 443)).toBe('.corp.example')
    expect(noProxyMatch(list, 'Grid.CORP.example.', 443)).toBe('.corp.example')
    expect(noProxyMatch(list, 'x.lab.test', 443)).toBe('*.lab.test')
    expect(noProxyMatch(list, 'intra', 1)).toBe('intra')
    expect(noProxyMatch(list, 'a.intra', 1)).toBe('intra')
    expect(noProxyMatch(list, 'notintra', 1)).toBeUndefined()
    expect(noProxyMatch(list, 'corp.example.evil.org', 443)).toBeUndefined()
    expect(noProxyMatch(list, 'evilcorp.example', 443)).toBeUndefined()
  })
  test('IPs and CIDR ranges, IPv4 and IPv6', () => {
    expect(noProxyMatch(list, '10.1.2.3', 8081)).toBe('10.0.0.0/8')
    expect(noProxyMatch(list, '11.0.0.1', 8081)).toBeUndefined()
    expect(noProxyMatch(list, '192.168.1.7', 1)).toBe('192.168.1.7')
    expect(noProxyMatch(list, '192.168.1.8', 1)).toBeUndefined()
    expect(noProxyMatch(list, '[fd12::1]', 1)).toBe('fd00::/8')
    expect(noProxyMatch(list, 'fe80::1', 1)).toBeUndefined()
    // An IPv4 address never matches an IPv6 range, nor a name a range.
    expect(noProxyMatch(list, '253.0.0.1', 1)).toBeUndefined()
    expect(noProxyMatch(list, '10.example', 1)).toBeUndefined()
  })
  test('an entry with a port matches that port only', () => {
    expect(noProxyMatch(list, 'grid', 9000)).toBe('grid:9000')
    expect(noProxyMatch(list, 'grid', 9001)).toBeUndefined()
    expect(noProxyMatch(list, '::2', 8081)).toBe('[::2]:8081')
    expect(noProxyMatch(list, '::2', 8080)).toBeUndefined()
  })
  test('entries that are no host are skipped and kept for doctor; * matches everything', () => {
    expect(list.ignored).toEqual(['<local>', '1.2.3.4/33'])
    expect(noProxyMatch(parseNoProxy('*', 'NO_PROXY'), 'anything', 1)).toBe('*')
    const hostile = parseNoProxy(`${'a,'.repeat(5000)}\u0000evil,${'b'.repeat(300)},.,*.`, 'no_proxy')
    expect(noProxyMatch(hostile, 'evil', 1)).toBeUndefined()
    expect(noProxyMatch(hostile, 'x.org', 1)).toBeUndefined()
  })
  test('loopback names and addresses', () => {
    for (const h of ['localhost', 'LOCALHOST.', 'a.localhost', '127.0.0.1', '127.9.9.9', '::1', '[::1]'])
      expect(isLoopback(h)).toBe(true)
    for (const h of ['localhost.example', '128.0.0.1', '::2', '10.0.0.1']) expect(isLoopback(h)).toBe(false)
  })
})

describe('which connections use which proxy', () => {
  const env = {
    https_proxy: 'http://low:1',
    HTTPS_PROXY: 'http://up:2',
    HTTP_PROXY: 'http://plain:3',
    NO_PROXY: '.lan',
  }
  const s = proxySettings(env)
  test('lower case wins as in curl; wss uses the https proxy, ws the http one', () => {
    expect(routeFor(s, 'https://grid.example:8081/api')).toMatchObject({
      kind: 'proxy',
      proxy: { host: 'low' },
    })
    expect(routeFor(s, 'wss://grid.example:8080/ws/worker')).toMatchObject({ proxy: { host: 'low' } })
    expect(routeFor(s, 'ws://grid.example:8080/ws/worker')).toMatchObject({ proxy: { host: 'plain' } })
    expect(routeFor(proxySettings({ ALL_PROXY: 'all:9' }), 'http://g:1')).toMatchObject({
      proxy: { host: 'all', from: 'ALL_PROXY' },
    })
  })
  test('NO_PROXY and loopback go direct, and say why', () => {
    expect(describeRoute(routeFor(s, 'https://grid.lan:8081'))).toBe('direct (NO_PROXY: .lan)')
    expect(describeRoute(routeFor(s, 'https://127.0.0.1:8081'))).toContain('loopback')
    expect(describeRoute(routeFor(proxySettings({}), 'https://g:1'))).toBe('direct (no HTTPS_PROXY set)')
    expect(routeFor({ ...s, loopback: true }, 'https://127.0.0.1:8081').kind).toBe('proxy')
  })
  test('a direct route tells Bun not to read the variables itself', () => {
    expect(fetchProxy(routeFor(s, 'https://grid.lan:1'))).toEqual({ proxy: false })
    expect(fetchProxy(routeFor(s, 'https://g:1'))).toEqual({
      proxy: { url: 'http://low:1', respectNoProxy: false },
    })
  })
  test('a bad proxy variable fails the connections, not the commands that connect nowhere', () => {
    const bad = proxySettings({ HTTPS_PROXY: 'socks5://x:1' })
    expect(bad.problem?.code).toBe('bad_proxy')
    expect(() => routeFor(bad, 'https://g:1')).toThrow(/socks5/)
  })
})

describe('proxy failures name the proxy, not the coordinator', () => {
  const addr = parseCoordinator('https://grid.example:8081', { httpPort: 8081, wsPort: 8080 })
  const proxy = parseProxyUrl('http://bob:hunter2@proxy.lab:8888', 'HTTPS_PROXY')
  const route = { kind: 'proxy' as const, proxy }
  const fail = (err: unknown) => networkError(err, addr, 8081, { route })
  test('unreachable, refused CONNECT, auth', () => {
    const refused = fail(Object.assign(new Error('ECONNREFUSED'), { code: 'ECONNREFUSED' }))
    expect(refused.code).toBe('proxy_unreachable')
    expect(refused.message).toContain('proxy.lab:8888')
    expect(refused.message).not.toContain('grid.example')
    const forbidden = fail(
      Object.assign(new Error('Proxy refused to open a tunnel: 403 Access violation'), {
        code: 'ERR_PROXY_TUNNEL',
      }),
    )
    expect(forbidden.code).toBe('proxy_refused')
    expect(forbidden.message).toContain('HTTP 403 Access violation')
    expect(forbidden.message).toContain('ConnectPort 8081')
    const auth = fail(
      new Error(
        "WebSocket connection to 'wss://x' failed: Proxy authentication required: 407 Proxy Authentication Required",
      ),
    )
    expect(auth.code).toBe('proxy_auth')
    const gateway = fail(
      Object.assign(new Error('Proxy refused to open a tunnel: 502 Bad Gateway'), {
        code: 'ERR_PROXY_TUNNEL',
      }),
    )
    expect(gateway).toMatchObject({ code: 'coordinator_unreachable', retryable: true })
    for (const e of [refused, forbidden, auth, gateway]) expect(e.message).not.toContain('hunter2')
  })
})
