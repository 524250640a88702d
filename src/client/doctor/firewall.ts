import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type CheckResult, ok, warn } from '../../protocol/doctor'

/** The Linux firewalls the doctor knows how to open ports in. */
export const FIREWALLS = ['ufw', 'firewalld', 'iptables', 'nft'] as const
/** One of the known firewalls. */
export type Firewall = (typeof FIREWALLS)[number]

/** A firewall tool found on this machine; `enabled` is undefined when it cannot be told without root. */
export interface FoundFirewall {
  tool: Firewall
  enabled: boolean | undefined
}

const BINARY: Record<Firewall, string> = {
  ufw: 'ufw',
  firewalld: 'firewall-cmd',
  iptables: 'iptables',
  nft: 'nft',
}

/** Finds firewall tools on PATH and in the sbin directories (often not on a user's PATH). */
export function detectFirewalls(path = process.env['PATH'] ?? ''): FoundFirewall[] {
  const dirs = [...path.split(':').filter(Boolean), '/usr/sbin', '/sbin', '/usr/local/sbin']
  const found: FoundFirewall[] = []
  for (const tool of FIREWALLS) {
    if (!dirs.some((d) => existsSync(join(d, BINARY[tool])))) continue
    found.push({ tool, enabled: enabled(tool) })
  }
  return found
}

function enabled(tool: Firewall): boolean | undefined {
  switch (tool) {
    case 'ufw':
      try {
        return /^\s*ENABLED\s*=\s*yes/m.test(readFileSync('/etc/ufw/ufw.conf', 'utf8'))
      } catch {
        return undefined
      }
    case 'firewalld':
      return existsSync('/run/firewalld') || existsSync('/var/run/firewalld/firewalld.pid')
    case 'iptables':
    case 'nft':
      // Reading the rule set needs root; the doctor does not guess.
      return undefined
  }
}

/** The exact command that lets TCP in on the given ports with one firewall. */
export function allowCommand(tool: Firewall, ports: number[]): string {
  const list = [...new Set(ports)]
  switch (tool) {
    case 'ufw':
      return list.map((p) => `sudo ufw allow ${p}/tcp`).join(' && ')
    case 'firewalld':
      return `sudo firewall-cmd --permanent ${list.map((p) => `--add-port=${p}/tcp`).join(' ')} && sudo firewall-cmd --reload`
    case 'iptables':
      return `sudo iptables -I INPUT -p tcp -m multiport --dports ${list.join(',')} -j ACCEPT`
    case 'nft':
      return `sudo nft add rule inet filter input tcp dport { ${list.join(', ')} } accept`
  }
}

/**
 * One hint per firewall found, for when its rules cannot be read (not root): the command that
 * lets other machines reach the coordinator's ports. `denied`: reading them was refused.
 */
export function checkFirewalls(found: FoundFirewall[], ports: number[], denied = true): CheckResult[] {
  const shown = ports.filter((p) => p > 0)
  if (shown.length === 0) return [ok('firewall', 'ports are picked at start (0); open them once known')]
  if (found.length === 0) {
    return [
      ok(
        'firewall',
        `no ufw, firewalld, iptables or nft found; if another firewall filters input, allow TCP ${shown.join(' and ')}`,
      ),
    ]
  }
  return found.map(({ tool, enabled }) => {
    const cmd = allowCommand(tool, shown)
    if (enabled) {
      return warn(
        `firewall ${tool}`,
        `${tool} is enabled: other machines reach TCP ${shown.join(' and ')} only if it allows them`,
        cmd,
      )
    }
    const unread = denied
      ? "installed (its rules need root to read: 'sudo gridx doctor --serve' checks them)"
      : 'installed (its rules could not be read)'
    const state = enabled === false ? 'installed but not enabled' : unread
    return ok(`firewall ${tool}`, `${tool} is ${state}; if it filters input, allow the ports: ${cmd}`)
  })
}
