import { afterAll, beforeAll, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import { startCoordinator, type Coordinator } from '../../src/coordinator/server'
import { selfSigned } from '../support/certs'
import { tempDir } from '../e2e/harness'

let coord: Coordinator
let dir: string
let base: string
let ca: string
beforeAll(async () => {
  dir = tempDir('web-tls')
  const cert = selfSigned(dir, 'grid', ['127.0.0.1'])
  ca = cert.cert
  coord = await startCoordinator({
    host: '127.0.0.1',
    httpPort: 0,
    wsPort: 0,
    dataDir: dir,
    log: () => undefined,
    tls: { cert: cert.cert, key: cert.key },
  })
  base = `https://127.0.0.1:${coord.httpPort}`
})
afterAll(async () => {
  await coord.stop()
  rmSync(dir, { recursive: true, force: true })
})

test('under TLS the session cookie is Secure as well as HttpOnly and SameSite=Strict', async () => {
  const tls = { ca }
  const json = { 'content-type': 'application/json' }
  const reg = await fetch(`${base}/api/auth/register`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ user: 'alice', password: 'password-123' }),
    tls,
  })
  expect(reg.status).toBe(201)
  const res = await fetch(`${base}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ user: 'alice', password: 'password-123' }),
    redirect: 'manual',
    tls,
  })
  expect(res.status).toBe(303)
  const cookie = res.headers.get('set-cookie') ?? ''
  expect(cookie).toMatch(/^gridx_session=gx_/)
  for (const flag of ['Secure', 'HttpOnly', 'SameSite=Strict', 'Path=/']) expect(cookie).toContain(flag)
})
