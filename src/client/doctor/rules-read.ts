import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Chain, RuleSource } from './rules'
import { parseIptablesSave } from './rules-iptables'
import { parseNft } from './rules-nft'

/** The firewall rules of this machine (or network namespace), as far as they could be read. */
export interface RuleSet {
  chains: Chain[]
  /** The commands whose output was read, for messages ("nft, iptables-legacy"). */
  read: string[]
  /** True when a tool was there but refused to show its rules (not root). */
  denied: boolean
}

const SBIN = ['/usr/sbin', '/sbin', '/usr/local/sbin']

function which(tool: string, path: string): string | undefined {
  for (const dir of [...path.split(':').filter(Boolean), ...SBIN]) {
    if (existsSync(join(dir, tool))) return join(dir, tool)
  }
  return undefined
}

/** Whether the kernel holds legacy (x_tables) tables for a family; reading this loads no module. */
function hasLegacyTables(family: 4 | 6): boolean {
  try {
    return (
      readFileSync(
        family === 4 ? '/proc/net/ip_tables_names' : '/proc/net/ip6_tables_names',
        'utf8',
      ).trim() !== ''
    )
  } catch {
    return false
  }
}

/**
 * Reads the input rules the kernel applies, whichever way they were written: nftables (`nft -j
 * list ruleset`), iptables on the nf_tables backend (`iptables-nft-save`: nft alone cannot show
 * its matches), and legacy iptables (`iptables-legacy-save`, only when the kernel has legacy
 * tables, as on Debian 12 after `update-alternatives --set iptables iptables-legacy`).
 */
export function readRules(path = process.env['PATH'] ?? ''): RuleSet {
  const set: RuleSet = { chains: [], read: [], denied: false }
  const run = (tool: string, args: string[]): string | undefined => {
    const bin = which(tool, path)
    if (!bin) return undefined
    const r = Bun.spawnSync([bin, ...args], { stdout: 'pipe', stderr: 'pipe', timeout: 10_000 })
    if (r.exitCode === 0) {
      set.read.push(tool)
      return r.stdout.toString()
    }
    if (/not permitted|permission denied|must be root|you must be root/i.test(r.stderr.toString()))
      set.denied = true
    return undefined
  }
  const covered = new Set<string>()
  const iptables = (tool: string, source: RuleSource, family: 'ip' | 'ip6') => {
    const text = run(tool, [])
    if (text === undefined) return
    if (/^\*filter$/m.test(text)) covered.add(`${family} filter`)
    set.chains.push(...parseIptablesSave(text, source))
  }
  // iptables-nft's tables first: nft would show their matches only as opaque `xt` expressions.
  iptables('iptables-nft-save', 'iptables-nft', 'ip')
  iptables('ip6tables-nft-save', 'ip6tables-nft', 'ip6')
  const nft = run('nft', ['-j', 'list', 'ruleset'])
  if (nft !== undefined) {
    try {
      set.chains.push(...parseNft(nft, (family, table) => covered.has(`${family} ${table}`)))
    } catch {
      set.read.pop()
    }
  }
  if (hasLegacyTables(4)) iptables('iptables-legacy-save', 'iptables-legacy', 'ip')
  if (hasLegacyTables(6)) iptables('ip6tables-legacy-save', 'ip6tables-legacy', 'ip6')
  // An older system with one iptables and neither of the named ones: its own save tells its backend.
  if (set.read.length === 0 && !set.denied) {
    const text = run('iptables-save', [])
    if (text !== undefined)
      set.chains.push(
        ...parseIptablesSave(text, /\(nf_tables\)/.test(text) ? 'iptables-nft' : 'iptables-legacy'),
      )
  }
  return set
}
