import { describe, expect, test } from 'bun:test'
import { parseCoordinator } from '../../src/client/address'
import { GridError } from '../../src/errors'

const ports = { httpPort: 8081, wsPort: 8080 }
const parse = (input: string) => parseCoordinator(input, ports)

/** The error thrown for `input`, failing the test when none is. */
function rejection(input: string): GridError {
  try {
    parse(input)
  } catch (err) {
    expect(err).toBeInstanceOf(GridError)
    return err as GridError
  }
  throw new Error(`'${input}' was accepted`)
}

// Every rejection tells the user what a good address looks like.
const HOW_TO = /use a host, host:port or URL, e\.g\. 192\.168\.1\.100, grid\.example\.org:8081/

describe('parseCoordinator: host and host:port', () => {
  test('a bare host uses the configured API and worker ports', () => {
    expect(parse('192.168.1.100')).toEqual({
      input: '192.168.1.100',
      host: '192.168.1.100',
      httpUrl: 'http://192.168.1.100:8081',
      wsUrl: 'ws://192.168.1.100:8080/ws/worker',
      httpPort: 8081,
      wsPort: 8080,
      tls: false,
    })
  })

  test('the ports passed in are the ones used when the address names none', () => {
    const a = parseCoordinator('grid.example.org', { httpPort: 9081, wsPort: 9080 })
    expect(a.httpUrl).toBe('http://grid.example.org:9081')
    expect(a.wsUrl).toBe('ws://grid.example.org:9080/ws/worker')
  })

  test('host:port serves both the API and the worker socket on that port', () => {
    const a = parse('grid.example.org:9000')
    expect(a.host).toBe('grid.example.org')
    expect(a.httpPort).toBe(9000)
    expect(a.wsPort).toBe(9000)
    expect(a.httpUrl).toBe('http://grid.example.org:9000')
    expect(a.wsUrl).toBe('ws://grid.example.org:9000/ws/worker')
    expect(a.tls).toBe(false)
  })

  test('surrounding whitespace is ignored but the input is kept as typed', () => {
    const a = parse('  localhost:8081 ')
    expect(a.host).toBe('localhost')
    expect(a.httpUrl).toBe('http://localhost:8081')
    expect(a.input).toBe('  localhost:8081 ')
  })

  test('host names are lower-cased and a trailing dot is dropped', () => {
    const a = parse('Grid.Example.ORG.')
    expect(a.host).toBe('grid.example.org')
    expect(a.httpUrl).toBe('http://grid.example.org:8081')
  })

  test('the port bounds 1 and 65535 are accepted', () => {
    expect(parse('h:1').httpPort).toBe(1)
    expect(parse('h:65535').wsPort).toBe(65535)
  })

  test('a host with a path keeps the path on both URLs', () => {
    const a = parse('localhost:8081/grid/')
    expect(a.httpUrl).toBe('http://localhost:8081/grid')
    expect(a.wsUrl).toBe('ws://localhost:8081/grid/ws/worker')
  })
})

describe('parseCoordinator: IPv6', () => {
  test('[::1]:8081 uses the given port for both', () => {
    const a = parse('[::1]:8081')
    expect(a.host).toBe('[::1]')
    expect(a.httpUrl).toBe('http://[::1]:8081')
    expect(a.wsUrl).toBe('ws://[::1]:8081/ws/worker')
    expect(a.httpPort).toBe(8081)
    expect(a.wsPort).toBe(8081)
  })

  test('a bare ::1 is an address, not host:port, and gets the default ports', () => {
    const a = parse('::1')
    expect(a.host).toBe('[::1]')
    expect(a.httpUrl).toBe('http://[::1]:8081')
    expect(a.wsUrl).toBe('ws://[::1]:8080/ws/worker')
  })

  test('a bracketed address without port and a longer bare address', () => {
    expect(parse('[::1]').wsUrl).toBe('ws://[::1]:8080/ws/worker')
    expect(parse('fe80::1').httpUrl).toBe('http://[fe80::1]:8081')
  })

  test('an IPv6 URL with port and trailing slash', () => {
    const a = parse('http://[::1]:9/')
    expect(a.httpUrl).toBe('http://[::1]:9')
    expect(a.wsUrl).toBe('ws://[::1]:9/ws/worker')
  })
})

describe('parseCoordinator: URLs', () => {
  test('http without port uses the configured ports', () => {
    const a = parse('http://grid.example.org')
    expect(a.httpUrl).toBe('http://grid.example.org:8081')
    expect(a.wsUrl).toBe('ws://grid.example.org:8080/ws/worker')
    expect(a.tls).toBe(false)
  })

  test('http with the scheme default port keeps it explicit (not the configured one)', () => {
    const a = parse('http://grid.example.org:80')
    expect(a.httpPort).toBe(80)
    expect(a.httpUrl).toBe('http://grid.example.org:80')
    expect(a.wsUrl).toBe('ws://grid.example.org:80/ws/worker')
  })

  test('https without port means 443 for both, as a reverse proxy serves it', () => {
    const a = parse('https://grid.example.org')
    expect(a.tls).toBe(true)
    expect(a.httpPort).toBe(443)
    expect(a.wsPort).toBe(443)
    expect(a.httpUrl).toBe('https://grid.example.org:443')
    expect(a.wsUrl).toBe('wss://grid.example.org:443/ws/worker')
  })

  test('https with port and path', () => {
    const a = parse('https://grid.example.org:8443/grid/')
    expect(a.httpUrl).toBe('https://grid.example.org:8443/grid')
    expect(a.wsUrl).toBe('wss://grid.example.org:8443/grid/ws/worker')
  })

  test('ws without port maps to http for the API and keeps the configured ports', () => {
    const a = parse('ws://grid.example.org')
    expect(a.tls).toBe(false)
    expect(a.httpUrl).toBe('http://grid.example.org:8081')
    expect(a.wsUrl).toBe('ws://grid.example.org:8080/ws/worker')
  })

  test('ws with port', () => {
    const a = parse('ws://10.0.0.5:9090')
    expect(a.httpUrl).toBe('http://10.0.0.5:9090')
    expect(a.wsUrl).toBe('ws://10.0.0.5:9090/ws/worker')
  })

  test('wss without port means 443 and TLS for both; a path is kept', () => {
    const a = parse('wss://grid.example.org/x')
    expect(a.tls).toBe(true)
    expect(a.httpUrl).toBe('https://grid.example.org:443/x')
    expect(a.wsUrl).toBe('wss://grid.example.org:443/x/ws/worker')
  })

  test('wss with port', () => {
    const a = parse('wss://grid.example.org:8443')
    expect(a.httpUrl).toBe('https://grid.example.org:8443')
    expect(a.wsUrl).toBe('wss://grid.example.org:8443/ws/worker')
  })

  test('an upper-case scheme is accepted', () => {
    expect(parse('HTTPS://grid.example.org').tls).toBe(true)
  })

  // BUG (src/client/address.ts ~line 76): a worker URL copied as given, ws://h:8080/ws/worker, gets
  // /ws/worker appended again (ws://h:8080/ws/worker/ws/worker) and the API URL gets /ws/worker as
  // its base path. Fix: strip a trailing /ws/worker from the path before building both URLs.
  test('a ws URL that already ends in /ws/worker is not doubled', () => {
    const a = parse('ws://grid.example.org:8080/ws/worker')
    expect(a.wsUrl).toBe('ws://grid.example.org:8080/ws/worker')
    expect(a.httpUrl).toBe('http://grid.example.org:8080')
  })
})

describe('parseCoordinator: rejections say what to do', () => {
  test('every rejection is a bad_coordinator GridError quoting the input and giving examples', () => {
    for (const input of ['', 'a b', 'ftp://h', 'h:0', 'h:abc', 'http://u:p@h', 'bad_host']) {
      const err = rejection(input)
      expect(err.code).toBe('bad_coordinator')
      expect(err.retryable).toBe(false)
      expect(err.message).toContain(`'${input}' is not a coordinator address`)
      expect(err.message).toMatch(HOW_TO)
    }
  })

  test('empty or blank', () => {
    expect(rejection('').message).toContain('(it is empty)')
    expect(rejection('   ').message).toContain('(it is empty)')
  })

  test('spaces inside', () => {
    expect(rejection('grid example.org').message).toContain('(it contains spaces)')
    expect(rejection('http://h /x').message).toContain('(it contains spaces)')
    expect(rejection('h\t:8081').message).toContain('(it contains spaces)')
  })

  test('a scheme other than http, https, ws or wss', () => {
    expect(rejection('ftp://grid.example.org').message).toContain("('ftp' is not http, https, ws or wss)")
    expect(rejection('file:///etc/passwd').message).toContain("'file' is not http, https, ws or wss")
    expect(rejection('tcp://h:8081').message).toContain("'tcp' is not http")
  })

  test('port 0 and an empty port', () => {
    expect(rejection('h:0').message).toContain('(the port must be 1-65535)')
    expect(rejection('http://h:0').message).toContain('(the port must be 1-65535)')
    expect(rejection('h:').message).toContain('(the port must be 1-65535)')
    expect(rejection('[::1]:').message).toContain('(the port must be 1-65535)')
  })

  test('ports out of range or not numbers are refused', () => {
    for (const input of ['h:99999', 'h:65536', 'h:abc', 'h:-1', 'http://h:8081:9']) {
      expect(rejection(input).message).toMatch(HOW_TO)
    }
  })

  // BUG (src/client/address.ts ~line 44): out-of-range and non-numeric ports make `new URL` throw
  // first, so the user reads "it cannot be read as a URL" instead of "the port must be 1-65535".
  // Fix: check the port text (/:(\d+)$/ on the authority, or non-digits after the last ':') before
  // calling new URL, or map URL failures with a port-shaped suffix to the port message.
  test('ports out of range or not numbers are explained as a port problem', () => {
    expect(rejection('h:99999').message).toContain('the port must be 1-65535')
    expect(rejection('h:abc').message).toContain('the port must be 1-65535')
    expect(rejection('https://h:70000').message).toContain('the port must be 1-65535')
  })

  test('credentials in the address point to --user/--password', () => {
    const why = '(put credentials in --user/--password, not in the address)'
    expect(rejection('http://alice:secret@grid.example.org').message).toContain(why)
    expect(rejection('https://alice@grid.example.org').message).toContain(why)
    expect(rejection('alice@grid.example.org').message).toContain(why)
    // The password must not leak into anything but the echoed input.
    expect(rejection('wss://alice:hunter2@h').message.split('hunter2').length).toBe(2)
  })

  test('a query or fragment', () => {
    expect(rejection('http://h?x=1').message).toContain('(it has a query or fragment)')
    expect(rejection('http://h#top').message).toContain('(it has a query or fragment)')
  })

  test('host names that are not host names', () => {
    expect(rejection('bad_host').message).toContain("('bad_host' is not a valid host name or IP address)")
    expect(rejection('-bad.example.org').message).toContain('is not a valid host name or IP address')
    expect(rejection('bad-.example.org').message).toContain('is not a valid host name or IP address')
    expect(rejection('a..b').message).toMatch(HOW_TO)
    expect(rejection(`${'a'.repeat(64)}.org`).message).toContain('is not a valid host name')
  })

  test('what the URL parser cannot read', () => {
    expect(rejection('[::1').message).toContain('(it cannot be read as a URL)')
    expect(rejection('999.1.1.1').message).toContain('(it cannot be read as a URL)')
  })
})
