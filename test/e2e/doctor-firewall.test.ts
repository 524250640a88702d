import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { chmodSync, chownSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { labUnavailable, type Lab, startLab } from '../support/netns'
import { gridx, type Proc, spawnGridx, tempDir } from './harness'

// `gridx doctor --serve` on a coordinator's host whose firewall drops gridx's ports, in a network
// namespace of its own (iptables and nft change that namespace only): run as root, it reads the
// rules and names the one that drops; run as an ordinary user (nobody), it says it cannot read
// them and what to run, and never blames "another program" for a port gridx holds.

const skip = labUnavailable()
if (skip) console.warn(`doctor firewall tests skipped: ${skip}`)

const has = (cmd: string) => Bun.spawnSync(['sh', '-c', `command -v ${cmd}`]).exitCode === 0
const HOST = '10.231.0.1'

let lab: Lab
let serve: Proc | undefined
let dir: string

/** Runs `gridx doctor --serve` on the coordinator's host, as root or (with setpriv) as nobody. */
function doctor(as: 'root' | 'nobody' = 'root') {
  const home = join(dir, as)
  const drop = as === 'nobody' ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : []
  return gridx(['doctor', '--serve'], { GRIDX_HOME: home, HOME: home }, { wrap: [...lab.on('fw'), ...drop] })
}

const fw = (argv: string[]) => lab.run('fw', argv)

beforeAll(async () => {
  if (skip) return
  dir = tempDir('doctor-fw')
  chmodSync(dir, 0o755)
  for (const who of ['root', 'nobody']) mkdirSync(join(dir, who))
  chownSync(join(dir, 'nobody'), 65534, 65534)
  lab = startLab({ fw: HOST })
  serve = spawnGridx(['serve', '--host', '0.0.0.0'], { GRIDX_HOME: join(dir, 'serve') }, lab.on('fw'))
  await serve.waitFor(/gridx coordinator listening: API http:\/\/0\.0\.0\.0:8081/, 30_000)
}, 60_000)
afterEach(() => {
  if (skip) return
  fw(['iptables', '-F', 'INPUT'])
  if (has('iptables-legacy')) fw(['iptables-legacy', '-F', 'INPUT'])
  Bun.spawnSync([...lab.on('fw'), 'nft', 'delete', 'table', 'inet', 'gridxtest'])
})
afterAll(async () => {
  await serve?.stop()
  lab?.down()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe.skipIf(skip !== undefined)('gridx doctor --serve and the firewall (a network namespace)', () => {
  test('as root with no rule in the way: the rules are read, not "need root to read", and all is well', async () => {
    const r = await doctor()
    expect(r.stdout).toMatch(
      /✓ firewall: the input rules \(read with [^)]*nft[^)]*\) let TCP 8081 and 8080 in on lo, eth0/,
    )
    expect(r.stdout).not.toContain('need root')
    expect(r.stderr).toContain('no problems found')
    expect(r.code).toBe(0)
  })

  test('a DROP on the worker port: held by gridx and dropped by the rule it names, not "another program"', async () => {
    fw(['iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', '8080', '-j', 'DROP'])
    const r = await doctor()
    expect(r.code).toBe(3)
    expect(r.stdout).not.toContain('taken by another program')
    expect(r.stdout).toMatch(
      /✗ ws port: port 8080 on 0\.0\.0\.0 \(the worker socket\) is held by gridx \(pid \d+\), but a firewall drops connections to it: TCP 8080 arriving on lo is dropped by iptables-nft rule in table filter, chain INPUT: '-A INPUT -p tcp -m tcp --dport 8080 -j DROP' — fix: if gridx should be reachable there, delete the rule: sudo iptables-nft -D INPUT -p tcp -m tcp --dport 8080 -j DROP/,
    )
    expect(r.stdout).toContain('✓ http port: port 8081 (the API) is already served by gridx')
  }, 60_000)

  test('a DROP on the external interface only: ✗ firewall naming chain, interface and port, not "no problems"', async () => {
    fw(['iptables', '-A', 'INPUT', '-i', 'eth0', '-p', 'tcp', '--dport', '8081', '-j', 'DROP'])
    const r = await doctor()
    expect(r.code).toBe(3)
    expect(r.stderr).not.toContain('no problems found')
    expect(r.stdout).toContain(
      "✗ firewall: TCP 8081 arriving on eth0 is dropped by iptables-nft rule in table filter, chain INPUT: '-A INPUT -i eth0 -p tcp -m tcp --dport 8081 -j DROP'",
    )
    // This machine's own probe arrives on lo and passes: the address is not claimed reachable.
    expect(r.stdout).toContain('but the firewall drops what other machines send it on eth0 (see firewall)')
  }, 60_000)

  test.skipIf(!has('iptables-legacy'))(
    'a rule in the legacy iptables backend (Debian 12 alternatives) is read too',
    async () => {
      fw([
        'iptables-legacy',
        '-A',
        'INPUT',
        '-i',
        'eth0',
        '-p',
        'tcp',
        '-m',
        'multiport',
        '--dports',
        '8081,8080',
        '-j',
        'REJECT',
      ])
      const r = await doctor()
      expect(r.code).toBe(3)
      for (const port of [8081, 8080]) {
        expect(r.stdout).toContain(
          `✗ firewall: TCP ${port} arriving on eth0 is dropped by iptables-legacy rule in table filter, chain INPUT: '-A INPUT -i eth0 -p tcp -m multiport --dports 8081,8080 -j REJECT`,
        )
      }
      expect(r.stdout).toContain(
        'sudo iptables-legacy -D INPUT -i eth0 -p tcp -m multiport --dports 8081,8080 -j REJECT',
      )
    },
    60_000,
  )

  test.skipIf(!has('nft'))(
    'a native nftables rule for some interfaces (eth*) is named with its handle',
    async () => {
      fw(['nft', 'add', 'table', 'inet', 'gridxtest'])
      fw(['nft', 'add', 'chain', 'inet', 'gridxtest', 'input', '{ type filter hook input priority 0; }'])
      fw([
        'nft',
        'add',
        'rule',
        'inet',
        'gridxtest',
        'input',
        'iifname',
        'eth*',
        'tcp',
        'dport',
        '{ 8080, 8081 }',
        'drop',
      ])
      const r = await doctor()
      expect(r.code).toBe(3)
      expect(r.stdout).toMatch(
        /✗ firewall: TCP 8081 arriving on eth0 is dropped by nft rule in table inet gridxtest, chain input: 'iifname "eth\*" tcp dport \{ 8080, 8081 \} drop' — fix: if gridx should be reachable there, delete the rule: sudo nft delete rule inet gridxtest input handle \d+/,
      )
      expect(r.stdout).not.toMatch(/arriving on lo/)
    },
    60_000,
  )

  test('not root (nobody): the silent port is not "another program", and the fix says to run it as root', async () => {
    fw(['iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', '8080', '-j', 'DROP'])
    const r = await doctor('nobody')
    expect(r.code).toBe(3)
    expect(r.stdout).not.toContain('taken by another program')
    expect(r.stdout).toContain(
      '✗ ws port: port 8080 on 0.0.0.0 (the worker socket) is held by a program of uid 0 (only root sees which), but it does not answer within',
    )
    expect(r.stdout).toContain(
      "typically a firewall rule that drops connections to the port (reading the firewall rules needs root: run 'sudo gridx doctor --serve' to name the rule)",
    )
    expect(r.stdout).toContain("its rules need root to read: 'sudo gridx doctor --serve' checks them")
  }, 60_000)
})
