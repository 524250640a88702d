import { afterAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  acceptedEnv,
  errorCodes,
  flagsOf,
  invocationOf,
  ROOT,
  shellLines,
  shellWords,
  sourceTexts,
  subcommands,
} from '../support/cli-surface'
import { type Lab, labUnavailable, startLab } from '../support/netns'

// The operator docs cannot drift from the program: every gridx command they show uses flags the
// binary has, every variable is one it reads, the nginx file and the openssl commands are the
// ones the tests and scripts run, the firewall rules are valid, and every troubleshooting entry
// quotes a message that exists in src/ while every error code in src/ has an entry.
const DOCS = ['docs/SETUP_GUIDE.md', 'docs/NETWORK_SETUP.md', 'docs/TROUBLESHOOTING.md']
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8')

describe('docs: commands and variables', () => {
  for (const doc of DOCS) {
    test(`${doc}: every gridx command uses a real subcommand and real flags`, () => {
      const subs = subcommands()
      const seen = shellLines(read(doc))
        .map((line) => invocationOf(shellWords(line), line))
        .filter((inv) => inv !== undefined)
      if (doc !== 'docs/TROUBLESHOOTING.md') expect(seen.length).toBeGreaterThan(3)
      for (const inv of seen) {
        if (inv.sub !== undefined) expect(subs, inv.line).toContain(inv.sub)
        const known = flagsOf(inv.sub)
        for (const flag of inv.flags) expect(known, `${inv.line}: ${flag}`).toContain(flag)
      }
    })

    test(`${doc}: every environment variable is one gridx reads`, () => {
      const known = acceptedEnv()
      const names = new Set([...read(doc).matchAll(/\b(GRIDX_[A-Z_]+|COORDINATOR_IP)\b/g)].map((m) => m[1]!))
      for (const name of names) expect(known, `${doc}: ${name}`).toContain(name)
    })
  }

  test('flags mentioned in prose exist on some subcommand', () => {
    const all = new Set([undefined, ...subcommands()].flatMap((s) => [...flagsOf(s)]))
    for (const doc of DOCS) {
      for (const m of read(doc).matchAll(/`(?:gridx [a-z]+ )?(--[a-z][a-z-]+)/g)) {
        // yargs accepts --no-X for every boolean --X.
        expect(all, `${doc}: ${m[0]}`).toContain(m[1]!.replace(/^--no-/, '--'))
      }
    }
  })
})

describe('docs: files they show are the files in use', () => {
  test('NETWORK_SETUP.md shows deploy/nginx-gridx.conf verbatim', () => {
    const blocks = [...read('docs/NETWORK_SETUP.md').matchAll(/^```nginx\n([\s\S]*?)^```/gm)].map((m) => m[1])
    expect(blocks).toEqual([read('deploy/nginx-gridx.conf')])
  })

  test("NETWORK_SETUP.md's openssl commands are the ones scripts/private-ca.sh runs", () => {
    const norm = (s: string) =>
      s
        .replace(/\\\n\s*/g, ' ')
        .replace(/\s+/g, ' ')
        .trim()
    const script = norm(read('scripts/private-ca.sh'))
    const shown = shellLines(read('docs/NETWORK_SETUP.md')).filter((l) => l.startsWith('openssl '))
    expect(shown.length).toBe(3)
    for (const line of shown) expect(script).toContain(norm(line))
  })
})

describe('docs: TROUBLESHOOTING.md matches the messages in src/', () => {
  const doc = read('docs/TROUBLESHOOTING.md')
  const src = sourceTexts()
    .map((s) => s.text)
    .join('\n')

  test('each entry quotes text that src/ really prints', () => {
    const headings = [...doc.matchAll(/^### `(.+)`$/gm)].map((m) => m[1]!)
    expect(headings.length).toBeGreaterThan(40)
    for (const h of headings) {
      // <...> stands for what varies; the fixed parts between must be in the source as written.
      const pieces = h
        .split(/<[^>]+>/)
        .map((p) => p.replace(/^[\s:.,()'—-]+|[\s:.,()'—-]+$/g, ''))
        .filter((p) => p.length >= 7)
      expect(pieces.length, `entry too vague to check: ${h}`).toBeGreaterThan(0)
      for (const p of pieces) expect(src.includes(p), `"${p}" (from: ${h}) is not in src/`).toBe(true)
    }
  })

  test('every error code in src/ has an entry, and every code named is real', () => {
    const named = new Set([...doc.matchAll(/`([a-z]+(?:_[a-z]+)+|[a-z]+)`/g)].map((m) => m[1]!))
    for (const code of errorCodes()) expect(named, `no entry for error code ${code}`).toContain(code)
    for (const m of doc.matchAll(/code `([a-z_]+)`(?:, `([a-z_]+)`)?(?: or `([a-z_]+)`)?/g)) {
      for (const code of m.slice(1).filter(Boolean)) expect(src).toContain(`'${code}'`)
    }
  })
})

describe.skipIf(labUnavailable() !== undefined)('docs: firewall rules', () => {
  let lab: Lab | undefined
  afterAll(() => lab?.down())

  test('the iptables and nftables rules of NETWORK_SETUP.md are accepted and open 8081 and 8080', () => {
    lab = startLab({ fw: '10.231.0.1' })
    const lines = shellLines(read('docs/NETWORK_SETUP.md'))
      .map((l) => shellWords(l))
      .filter((w) => w[0] === 'sudo' && (w[1] === 'iptables' || w[1] === 'nft'))
      .map((w) => w.slice(1))
    expect(lines.map((w) => w[0])).toEqual(['iptables', 'nft'])
    // The nftables rule is for Debian's default rule set: an inet filter table with an input chain.
    lab.run('fw', ['nft', 'add', 'table', 'inet', 'filter'])
    lab.run('fw', [
      'nft',
      'add',
      'chain',
      'inet',
      'filter',
      'input',
      '{ type filter hook input priority 0; }',
    ])
    for (const argv of lines) lab.run('fw', argv)
    expect(lab.run('fw', ['iptables', '-S', 'INPUT'])).toContain('--dports 8081,8080 -j ACCEPT')
    expect(lab.run('fw', ['nft', 'list', 'chain', 'inet', 'filter', 'input'])).toMatch(
      /tcp dport \{ 8080, 8081 \} accept/,
    )
  })
})
