import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import { clientAddress, parsePublicUrl } from '../../src/cli/serve-tls'
import { checkOrigin } from '../../src/coordinator/origin'
import { type Coordinator, startCoordinator } from '../../src/coordinator/server'
import { failure } from '../support/failure'
import { tempDir } from '../e2e/harness'

const upgrade = (headers: Record<string, string>) =>
  new Request('http://127.0.0.1:8081/ws/worker', { headers: { host: '127.0.0.1:8081', ...headers } })

const refusal = (req: Request, publicUrl?: string) => failure(() => checkOrigin(req, publicUrl))

describe('checkOrigin', () => {
  test('no Origin (the gridx worker) passes; so does a page of the host the request was sent to', () => {
    expect(() => checkOrigin(upgrade({}), undefined)).not.toThrow()
    expect(() => checkOrigin(upgrade({ origin: 'http://127.0.0.1:8081' }), undefined)).not.toThrow()
    expect(() => checkOrigin(upgrade({ origin: 'https://127.0.0.1:8081' }), undefined)).not.toThrow()
  })

  test('the public URL is the coordinator own origin even when the Host differs (a proxy)', () => {
    const req = upgrade({ origin: 'https://grid.example.org' })
    expect(() => checkOrigin(req, 'https://grid.example.org/gridx')).not.toThrow()
    expect(refusal(req).status).toBe(403)
  })

  test('another site, another port, and the "null" origin are refused with 403 and what to do', () => {
    const e = refusal(upgrade({ origin: 'https://evil.example' }), 'https://grid.example.org')
    expect(e.code).toBe('forbidden_origin')
    expect(e.status).toBe(403)
    expect(e.message).toBe(
      'WebSocket connections from web pages at https://evil.example are refused: only gridx workers and pages of this coordinator (https://grid.example.org) may connect. Behind a proxy that changes the address, start the coordinator with --public-url',
    )
    expect(refusal(upgrade({ origin: 'http://127.0.0.1:9999' })).code).toBe('forbidden_origin')
    expect(refusal(upgrade({ origin: 'null' })).code).toBe('forbidden_origin')
  })
})

describe('--public-url', () => {
  test('is checked and kept without a trailing slash', () => {
    expect(parsePublicUrl(undefined)).toBeUndefined()
    expect(parsePublicUrl('https://grid.example.org/')).toBe('https://grid.example.org')
    expect(parsePublicUrl('http://10.0.0.5:8081')).toBe('http://10.0.0.5:8081')
    expect(() => parsePublicUrl('grid.example.org')).toThrow(
      "--public-url 'grid.example.org' is not a URL: give the address users and workers reach the coordinator at",
    )
    expect(() => parsePublicUrl('ftp://grid')).toThrow('must start with http:// or https://')
    expect(() => parsePublicUrl('https://u:p@grid')).toThrow('must not hold credentials')
  })

  test('clientAddress: the public URL wins; otherwise this host, with the port when needed', () => {
    const base = { host: '10.1.2.3', httpPort: 8081, tls: false, defaultHttpPort: 8081 }
    expect(clientAddress({ ...base, publicUrl: 'https://grid.example.org' })).toBe('https://grid.example.org')
    expect(clientAddress({ ...base, publicUrl: undefined })).toBe('10.1.2.3')
    expect(clientAddress({ ...base, publicUrl: undefined, httpPort: 9081 })).toBe('10.1.2.3:9081')
    expect(clientAddress({ ...base, publicUrl: undefined, tls: true })).toBe('https://10.1.2.3:8081')
    expect(clientAddress({ ...base, publicUrl: undefined, host: '::1' })).toBe('[::1]')
  })
})

describe('a real coordinator', () => {
  let dir: string
  let coord: Coordinator
  beforeAll(async () => {
    dir = tempDir('origin')
    coord = await startCoordinator({
      host: '127.0.0.1',
      httpPort: 0,
      wsPort: 0,
      dataDir: dir,
      publicUrl: 'https://grid.example.org',
      log: () => undefined,
    })
  })
  afterAll(async () => {
    await coord.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  test('/health shows the public URL', async () => {
    const health = (await (await fetch(`http://127.0.0.1:${coord.httpPort}/health`)).json()) as {
      publicUrl: string
    }
    expect(health.publicUrl).toBe('https://grid.example.org')
  })

  test('a browser Origin on /ws/worker gets 403 on both ports, before any authentication', async () => {
    for (const port of [coord.httpPort, coord.wsPort]) {
      const res = await fetch(`http://127.0.0.1:${port}/ws/worker`, {
        headers: { origin: 'https://evil.example', upgrade: 'websocket', connection: 'Upgrade' },
      })
      expect(res.status).toBe(403)
      const body = (await res.json()) as { error: { code: string } }
      expect(body.error.code).toBe('forbidden_origin')
    }
    // Without an Origin the same request is only asked for credentials.
    const plain = await fetch(`http://127.0.0.1:${coord.wsPort}/ws/worker`)
    expect(plain.status).toBe(401)
  })
})
