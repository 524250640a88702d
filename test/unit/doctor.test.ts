import { describe, expect, test } from 'bun:test'
import { formatCheck } from '../../src/cli/doctor'
import { allowCommand, checkFirewalls } from '../../src/client/doctor/firewall'
import { classifySocketError, type FailureKind, probeTcp } from '../../src/client/doctor/probes'
import { connectionFailure } from '../../src/client/doctor/reach'
import { checkClock, SKEW_WARN_MS } from '../../src/client/doctor/service'
import { fail, ok, skip, warn } from '../../src/protocol/doctor'

describe('classifySocketError', () => {
  const cases: [unknown, FailureKind][] = [
    [{ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 10.0.0.1:8080' }, 'refused'],
    [{ code: 'ConnectionRefused', message: 'Unable to connect' }, 'refused'],
    [{ code: 'ETIMEDOUT', message: 'connect ETIMEDOUT' }, 'timeout'],
    [{ name: 'TimeoutError', message: 'The operation timed out.' }, 'timeout'],
    [{ code: 'EHOSTUNREACH', message: 'connect EHOSTUNREACH' }, 'unreachable'],
    [{ code: 'ENETUNREACH', message: 'connect ENETUNREACH' }, 'unreachable'],
    [{ code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND grid.invalid' }, 'unresolved'],
    [{ code: 'EAI_AGAIN', message: 'getaddrinfo EAI_AGAIN' }, 'unresolved'],
    [{ code: 'ECONNRESET', message: 'socket hang up' }, 'reset'],
    [{ code: 'DEPTH_ZERO_SELF_SIGNED_CERT', message: 'self signed certificate' }, 'tls'],
    [{ code: 'ERR_TLS_CERT_ALTNAME_INVALID', message: 'altnames' }, 'tls'],
    [{ code: 'CERT_SOMETHING_NEW', message: 'x' }, 'tls'],
    [{ code: 'EWHATEVER', message: 'odd' }, 'other'],
    ['a string', 'other'],
    [undefined, 'other'],
  ]
  for (const [err, kind] of cases) {
    test(`${JSON.stringify(err)} is ${kind}`, () => {
      expect(classifySocketError(err).kind).toBe(kind)
    })
  }

  test('keeps the code and message for the report', () => {
    const f = classifySocketError(
      Object.assign(new Error('connect EHOSTUNREACH 10.9.9.9:8080'), { code: 'EHOSTUNREACH' }),
    )
    expect(f).toEqual({
      kind: 'unreachable',
      code: 'EHOSTUNREACH',
      message: 'connect EHOSTUNREACH 10.9.9.9:8080',
    })
  })
})

describe('connectionFailure', () => {
  const hint = { refused: 'start it' }
  test('a timeout says filtered or dropped, names the firewall and the host, and gives the rule', () => {
    const r = connectionFailure(
      'ws port',
      { kind: 'timeout', code: 'ETIMEDOUT', message: '' },
      '10.0.0.1',
      8080,
      hint,
    )
    expect(r.status).toBe('fail')
    expect(r.detail).toContain(
      'filtered or dropped — check the firewall (ufw/firewalld/iptables) on 10.0.0.1 and between',
    )
    expect(r.fix).toContain('sudo ufw allow 8080/tcp')
    expect(r.fix).toContain('--add-port=8080/tcp')
    expect(r.fix).toContain('iptables -I INPUT -p tcp -m multiport --dports 8080 -j ACCEPT')
  })

  test('refused, unreachable and timed out read differently', () => {
    const of = (kind: FailureKind) =>
      connectionFailure('http port', { kind, code: 'X', message: 'm' }, '10.0.0.1', 8081, hint)
    expect(of('refused').detail).toContain('refused: nothing listens there')
    expect(of('refused').fix).toBe('start it')
    expect(of('unreachable').detail).toContain('no route to 10.0.0.1')
    expect(of('unreachable').fix).toContain('same network')
    expect(new Set([of('refused').detail, of('timeout').detail, of('unreachable').detail]).size).toBe(3)
  })
})

describe('checkClock', () => {
  const sent = Date.parse('2026-01-01T12:00:00.200Z')
  const got = sent + 100
  test('a server within the same second is in step', () => {
    expect(checkClock(new Date('2026-01-01T12:00:00.000Z'), sent, got, 'h').status).toBe('ok')
  })
  test('a server 30 s behind gets a warning with the fix', () => {
    const r = checkClock(new Date('2026-01-01T11:59:30.000Z'), sent, got, 'h')
    expect(r.status).toBe('warn')
    expect(r.detail).toBe("this clock is 30 s ahead of h's")
    expect(r.fix).toContain('timedatectl set-ntp true')
  })
  test('a server 30 s ahead is reported the other way round', () => {
    const r = checkClock(new Date('2026-01-01T12:00:30.000Z'), sent, got, 'h')
    expect(r.detail).toBe("this clock is 30 s behind h's")
  })
  test('just past the threshold warns; just under does not', () => {
    const at = (skewMs: number) =>
      checkClock(new Date(Math.floor((sent + skewMs) / 1000) * 1000), sent, sent, 'h')
    expect(at(SKEW_WARN_MS - 1000).status).toBe('ok')
    expect(at(SKEW_WARN_MS + 3000).status).toBe('warn')
    expect(at(-(SKEW_WARN_MS + 3000)).status).toBe('warn')
  })
  test('no Date header: unknown, said as a warning', () => {
    expect(checkClock(undefined, sent, got, 'h').status).toBe('warn')
  })
})

describe('firewall hints', () => {
  test('each firewall gets its exact allow command for both ports', () => {
    expect(allowCommand('ufw', [8081, 8080])).toBe('sudo ufw allow 8081/tcp && sudo ufw allow 8080/tcp')
    expect(allowCommand('firewalld', [8081, 8080])).toBe(
      'sudo firewall-cmd --permanent --add-port=8081/tcp --add-port=8080/tcp && sudo firewall-cmd --reload',
    )
    expect(allowCommand('iptables', [8081, 8080])).toBe(
      'sudo iptables -I INPUT -p tcp -m multiport --dports 8081,8080 -j ACCEPT',
    )
    expect(allowCommand('nft', [8081, 8080])).toBe(
      'sudo nft add rule inet filter input tcp dport { 8081, 8080 } accept',
    )
  })
  test('an enabled firewall is a warning whose fix is the command', () => {
    const [r] = checkFirewalls([{ tool: 'ufw', enabled: true }], [8081, 8080])
    expect(r?.status).toBe('warn')
    expect(r?.detail).toContain('ufw is enabled')
    expect(r?.fix).toBe('sudo ufw allow 8081/tcp && sudo ufw allow 8080/tcp')
  })
  test('no firewall found still names the ports', () => {
    const [r] = checkFirewalls([], [9081, 9080])
    expect(r?.status).toBe('ok')
    expect(r?.detail).toContain('9081 and 9080')
  })
})

describe('formatCheck', () => {
  test('one line per check, marked, with the fix after a dash', () => {
    expect(formatCheck(ok('health', 'fine'))).toBe('✓ health: fine')
    expect(formatCheck(fail('http port', 'refused', 'start it'))).toBe('✗ http port: refused — fix: start it')
    expect(formatCheck(warn('clock', '9 s ahead', 'sync'))).toBe('! clock: 9 s ahead — fix: sync')
    expect(formatCheck(skip('websocket', 'no connection'))).toBe('- websocket: skipped: no connection')
  })
})

describe('probes', () => {
  test('a port the socket API refuses outright is a reported failure, not a crash', async () => {
    const r = await probeTcp('127.0.0.1', 70000, 1000)
    expect(r).toMatchObject({ kind: 'other', code: 'ERR_SOCKET_BAD_PORT' })
  })
})
