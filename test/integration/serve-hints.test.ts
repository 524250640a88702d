import { afterAll, describe, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import { serve } from '../../src/cli/serve'
import { decodeJoinToken } from '../../src/client/join-token'
import { tempDir } from '../e2e/harness'
import { testCa, testServerCert } from '../support/certs'

const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** Runs `gridx serve` in-process until its banner is out, and returns the banner. */
async function banner(flags: Parameters<typeof serve>[0]): Promise<string> {
  const home = tempDir('hints-home')
  dirs.push(home)
  const lines: string[] = []
  const write = process.stderr.write.bind(process.stderr)
  const saved = process.env['GRIDX_HOME']
  process.env['GRIDX_HOME'] = home
  let stop!: (sig: string) => void
  const until = new Promise<string>((resolve) => (stop = resolve))
  process.stderr.write = (chunk: string | Uint8Array) => {
    const text = String(chunk)
    lines.push(text)
    if (text.startsWith('files: ')) stop('SIGTERM')
    return true
  }
  try {
    await serve({ host: '0.0.0.0', httpPort: 0, wsPort: 0, ...flags }, until)
  } finally {
    process.stderr.write = write
    if (saved === undefined) delete process.env['GRIDX_HOME']
    else process.env['GRIDX_HOME'] = saved
  }
  return lines.join('')
}

describe('the start-up hints of gridx serve', () => {
  test("--self-signed: a join line to paste, not this machine's own file path as --ca-cert", async () => {
    const data = tempDir('hints-data')
    dirs.push(data)
    const text = await banner({ selfSigned: true, dataDir: data })
    const work = /^ {2}gridx work --join (gx1_\S+)$/m.exec(text)
    expect(work).not.toBeNull()
    const token = decodeJoinToken(work![1]!)
    expect(token.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
    expect(text).toContain(`SHA-256 fingerprint ${token.fingerprint}`)
    // The invite behind it: said with its expiry; no account exists yet, so the first joiner is the operator.
    expect(token.invite).toMatch(/^gxi_/)
    expect(text).toMatch(
      /the first account to join becomes the operator; the token admits up to 5 new accounts until \d{4}-\d\d-\d\dT/,
    )
    expect(text).toMatch(/^ {2}gridx register --join gx1_\S+ --user NAME$/m)
    // Addresses other machines reach, never loopback or a name.
    for (const u of token.urls) expect(u).toMatch(/^https:\/\/(\d+\.){3}\d+:\d+$/)
    expect(token.urls.some((u) => u.startsWith('https://127.'))).toBe(false)
    // The file is named as a file to copy, never as a --ca-cert value that only works here.
    expect(text).not.toContain(`--ca-cert ${data}`)
    expect(text).toContain(`copy ${data}/tls/self-signed.pem from this machine`)
  })

  test('--tls-cert from a private CA: clients are told they need that CA for --ca-cert', async () => {
    const d = tempDir('hints-ca')
    dirs.push(d)
    testCa(d)
    const cert = testServerCert(d, 'coord', ['grid.lan', '127.0.0.1'])
    const data = tempDir('hints-data')
    dirs.push(data)
    const text = await banner({ tlsCert: cert.cert, tlsKey: cert.key, dataDir: data, signup: 'open' })
    expect(text).toMatch(/gridx login --coordinator https:\/\/\S+ --ca-cert ca\.crt --user NAME/)
    expect(text).toContain('its certificate is from a private CA (CN=Grid-X-test-CA)')
    // The token pins it all the same, and open sign-up needs no invite.
    const token = decodeJoinToken(/gridx work --join (gx1_\S+)/.exec(text)![1]!)
    expect(token.fingerprint).toBeDefined()
    expect(token.invite).toBeUndefined()
  })
})
