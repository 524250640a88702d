import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CredentialStore, type SavedLogin } from '../../src/client/credentials'

let root: string
let home: string
let file: string

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'gridx-creds-'))
  home = join(root, 'home', '.gridx')
  file = join(home, 'credentials.json')
})
afterEach(() => {
  rmSync(root, { recursive: true, force: true })
})

const login = (user: string, coordinator: string): SavedLogin => ({
  user,
  token: `gx_token_of_${user}`,
  expiresAt: '2030-01-01T00:00:00.000Z',
  coordinator,
})
const A = 'http://grid-a.lan:8081'
const B = 'https://grid-b.example.org:443'
const mode = (path: string) => statSync(path).mode & 0o777

describe('CredentialStore', () => {
  test('nothing saved: no login and no last coordinator, and nothing is created', () => {
    const s = new CredentialStore(home)
    expect(s.get(A)).toBeUndefined()
    expect(s.lastCoordinator()).toBeUndefined()
    expect(existsSync(home)).toBe(false)
  })

  test('save creates $GRIDX_HOME (0700) and credentials.json with mode 0600', () => {
    new CredentialStore(home).save(A, login('alice', 'grid-a.lan'))
    expect(mode(file)).toBe(0o600)
    expect(mode(home)).toBe(0o700)
    // No temporary file is left behind.
    expect(readdirSync(home)).toEqual(['credentials.json'])
  })

  test('a file that was world-readable becomes 0600 on the next save', () => {
    const s = new CredentialStore(home)
    s.save(A, login('alice', 'grid-a.lan'))
    chmodSync(file, 0o644)
    s.save(B, login('bob', B))
    expect(mode(file)).toBe(0o600)
  })

  test('a saved login reads back, also from a new instance', () => {
    new CredentialStore(home).save(A, login('alice', 'grid-a.lan'))
    const s = new CredentialStore(home)
    expect(s.get(A)).toEqual(login('alice', 'grid-a.lan'))
    expect(s.get(B)).toBeUndefined()
    const raw = JSON.parse(readFileSync(file, 'utf8')) as {
      version: number
      current: string
      contexts: Record<string, { coordinator: string; user: string }>
      logins: Record<string, Record<string, SavedLogin>>
    }
    expect(raw.version).toBe(2)
    expect(raw.current).toBe('alice@grid-a.lan')
    expect(raw.contexts[raw.current]).toEqual({ coordinator: 'grid-a.lan', user: 'alice' })
    expect(raw.logins[A]?.['alice']?.token).toBe('gx_token_of_alice')
  })

  test('lastCoordinator is the coordinator of the latest login, as the user typed it', () => {
    const s = new CredentialStore(home)
    s.save(A, login('alice', 'grid-a.lan'))
    expect(s.lastCoordinator()).toBe('grid-a.lan')
    s.save(B, login('bob', 'https://grid-b.example.org'))
    expect(s.lastCoordinator()).toBe('https://grid-b.example.org')
    // Logging in again to A makes it current again; B is kept.
    s.save(A, login('alice2', 'grid-a.lan:8081'))
    expect(s.lastCoordinator()).toBe('grid-a.lan:8081')
    expect(s.get(A)?.user).toBe('alice2')
    expect(s.get(B)?.user).toBe('bob')
  })

  test('remove forgets one login and clears the current coordinator if it was that one', () => {
    const s = new CredentialStore(home)
    s.save(A, login('alice', 'grid-a.lan'))
    s.save(B, login('bob', B))
    s.remove(A)
    expect(s.get(A)).toBeUndefined()
    expect(s.get(B)?.user).toBe('bob')
    expect(s.lastCoordinator()).toBe(B)
    s.remove(B)
    expect(s.get(B)).toBeUndefined()
    expect(s.lastCoordinator()).toBeUndefined()
    expect(mode(file)).toBe(0o600)
  })

  test('removing an unknown login changes nothing else', () => {
    const s = new CredentialStore(home)
    s.save(A, login('alice', 'grid-a.lan'))
    s.remove('http://other:1')
    expect(s.get(A)?.user).toBe('alice')
    expect(s.lastCoordinator()).toBe('grid-a.lan')
  })

  test.each([
    ['not JSON', '{"logins": '],
    ['empty', ''],
    ['the wrong shape', JSON.stringify({ logins: { [A]: { user: 'alice' } }, current: A })],
    ['a JSON array', '[]'],
    ['JSON null', 'null'],
  ])('a damaged file (%s) is treated as no login, and the next save rewrites it whole', (_what, text) => {
    const s = new CredentialStore(home)
    s.save(B, login('bob', B))
    writeFileSync(file, text)
    expect(s.get(A)).toBeUndefined()
    expect(s.get(B)).toBeUndefined()
    expect(s.lastCoordinator()).toBeUndefined()
    s.save(A, login('alice', 'grid-a.lan'))
    expect(s.get(A)?.user).toBe('alice')
    expect(s.lastCoordinator()).toBe('grid-a.lan')
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
      version: 2,
      current: 'alice@grid-a.lan',
      contexts: { 'alice@grid-a.lan': { coordinator: 'grid-a.lan', user: 'alice' } },
      logins: { [A]: { alice: login('alice', 'grid-a.lan') } },
    })
  })

  test('a current pointer to a missing login means no last coordinator', () => {
    const s = new CredentialStore(home)
    s.save(A, login('alice', 'grid-a.lan'))
    writeFileSync(file, JSON.stringify({ current: B, logins: { [A]: login('alice', 'grid-a.lan') } }))
    expect(s.lastCoordinator()).toBeUndefined()
    expect(s.get(A)?.user).toBe('alice')
  })
})

describe('trust saved with a login', () => {
  const ca = {
    path: '/tmp/self-signed.pem',
    pem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  }
  const pin = { fingerprint: 'AB:CD', anchor: ca.pem }

  test('the CA file is kept whole (its content, not just the path) and the pin beside it, per coordinator', () => {
    const s = new CredentialStore(home)
    s.save(A, { ...login('alice', 'grid-a.lan'), ca })
    s.save(B, { ...login('bob', 'https://grid-b.example.org'), pin })
    expect(s.trust(A)).toEqual({ ca })
    expect(s.trust(B)).toEqual({ pin })
    const onDisk = JSON.parse(readFileSync(file, 'utf8')) as {
      logins: Record<string, Record<string, { ca?: { pem: string } }>>
    }
    expect(onDisk.logins[A]?.['alice']?.ca?.pem).toBe(ca.pem)
    expect(mode(file)).toBe(0o600)
  })

  test('a login saved with no trust has none, and forgetting a login forgets its trust', () => {
    const s = new CredentialStore(home)
    s.save(A, login('alice', 'grid-a.lan'))
    expect(s.trust(A)).toBeUndefined()
    s.save(B, { ...login('bob', 'grid-b'), pin, password: 'generated' })
    expect(s.get(B)?.password).toBe('generated')
    s.remove(B)
    expect(s.trust(B)).toBeUndefined()
    expect(readFileSync(file, 'utf8')).not.toContain('AB:CD')
  })
})

describe('contexts', () => {
  test('a second account on the same coordinator is added beside the first, and becomes current', () => {
    const s = new CredentialStore(home)
    s.saveLogin('grid-a.lan', 'alice', [[A, login('alice', 'grid-a.lan')]])
    const second = s.saveLogin('grid-a.lan', 'bob', [[A, login('bob', 'grid-a.lan')]])
    expect(second).toEqual({ context: 'bob@grid-a.lan', created: true, previous: 'alice@grid-a.lan' })
    expect(s.get(A)?.user).toBe('bob')
    expect(new CredentialStore(home, 'alice@grid-a.lan').get(A)?.token).toBe('gx_token_of_alice')
    s.use('alice@grid-a.lan')
    expect(s.get(A)?.user).toBe('alice')
    expect(s.list().map((c) => [c.name, c.current, c.loggedIn])).toEqual([
      ['alice@grid-a.lan', true, true],
      ['bob@grid-a.lan', false, true],
    ])
    // Logging in again to the same account updates its context, not a new one.
    expect(s.saveLogin('grid-a.lan', 'alice', [[A, login('alice', 'grid-a.lan')]]).created).toBe(false)
    expect(s.list()).toHaveLength(2)
  })

  test('a context added by hand is filled in by the first login to it; rm forgets it and its login', () => {
    const s = new CredentialStore(home)
    s.add('lab', { coordinator: 'grid-b.example.org' })
    expect(() => s.add('lab', { coordinator: 'x' })).toThrow(/exists already/)
    const saved = new CredentialStore(home, 'lab').saveLogin('grid-b.example.org', 'carol', [
      [B, login('carol', 'grid-b.example.org')],
    ])
    expect(saved).toEqual({ context: 'lab', created: false, previous: undefined })
    expect(s.get(B)?.user).toBe('carol')
    s.rm('lab')
    expect(s.get(B)).toBeUndefined()
    expect(s.list()).toEqual([])
    expect(() => s.use('lab')).toThrow(/no context named 'lab'/)
    expect(mode(file)).toBe(0o600)
  })

  test('a file of the first form is migrated on first use, every login kept, the current one current', () => {
    mkdirSync(home, { recursive: true })
    writeFileSync(
      file,
      JSON.stringify({
        current: B,
        logins: { [A]: login('alice', 'grid-a.lan'), [B]: login('bob', 'grid-b.example.org') },
        answered: B,
      }),
      { mode: 0o644 },
    )
    const s = new CredentialStore(home)
    expect(s.get(B)?.token).toBe('gx_token_of_bob')
    expect(s.lastCoordinator()).toBe('grid-b.example.org')
    expect(s.lastAnswered()).toBe(B)
    const raw = JSON.parse(readFileSync(file, 'utf8')) as { version: number; current: string }
    expect(raw).toMatchObject({ version: 2, current: 'bob@grid-b.example.org' })
    expect(mode(file)).toBe(0o600)
    expect(new CredentialStore(home, 'alice@grid-a.lan').get(A)?.token).toBe('gx_token_of_alice')
    expect(readdirSync(home)).toEqual(['credentials.json'])
  })
})
