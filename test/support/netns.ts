import { resolve } from 'node:path'

const SCRIPT = resolve(import.meta.dir, '../../scripts/netns-lab.sh')
const DELAYER = resolve(import.meta.dir, 'nfqueue-delay.ts')

/** A private network of namespaced "hosts" made by scripts/netns-lab.sh. */
export interface Lab {
  name: string
  /** The namespace of a host. */
  ns: (host: string) => string
  /** The address of a host on the lab's link. */
  addr: (host: string) => string
  /** The prefix that runs a command on a host: `ip netns exec NS`. */
  on: (host: string) => string[]
  /** Runs a command on a host; throws with its output when it fails. */
  run: (host: string, argv: string[]) => string
  /**
   * Delays every packet a host sends by `ms` (netem, or an NFQUEUE delayer where the kernel has
   * no netem); returns how it was done and a function that removes the delay.
   */
  delay: (host: string, ms: number) => Promise<{ how: string; undo: () => void }>
  /** Stops everything left in the lab and deletes its namespaces. */
  down: () => void
}

/** Why namespaced tests cannot run here, or undefined when they can. */
export function labUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces (ip netns)'
  if (process.platform !== 'linux') return 'network namespaces exist only on Linux'
  const has = (cmd: string) => Bun.spawnSync(['sh', '-c', `command -v ${cmd}`]).exitCode === 0
  if (!has('ip') && !has('apt-get')) return "no 'ip' (iproute2) and no apt-get to install it"
  return undefined
}

function sh(argv: string[]): string {
  const r = Bun.spawnSync(argv, { stdout: 'pipe', stderr: 'pipe' })
  if (r.exitCode !== 0) {
    throw new Error(`${argv.join(' ')} failed (${r.exitCode}):\n${r.stdout.toString()}${r.stderr.toString()}`)
  }
  return r.stdout.toString()
}

/**
 * Creates a lab with the given hosts (name -> 10.231.x.x address). The lab is named after this
 * process, so parallel runs never collide, and labs of runs that died are removed first.
 */
export function startLab(hosts: Record<string, string>): Lab {
  sh(['bash', SCRIPT, 'gc'])
  const name = `gx${process.pid}`
  const specs = Object.entries(hosts).map(([h, a]) => `${h}=${a}`)
  const made = Bun.spawnSync(['bash', SCRIPT, 'up', name, ...specs], {
    env: { ...process.env, LAB_OWNER: String(process.pid) },
    stdout: 'inherit',
    stderr: 'inherit',
  })
  if (made.exitCode !== 0) throw new Error(`could not create network lab ${name} (see netns-lab above)`)
  let up = true
  const down = () => {
    if (!up) return
    up = false
    Bun.spawnSync(['bash', SCRIPT, 'down', name], { stdout: 'inherit', stderr: 'inherit' })
  }
  // A test run that ends without its afterAll (a crash, an interrupt) still removes the lab.
  process.once('exit', down)
  const ns = (host: string) => `${name}-${host}`
  return {
    name,
    ns,
    addr: (host) => {
      const a = hosts[host]
      if (!a) throw new Error(`no host ${host} in lab ${name}`)
      return a
    },
    on: (host) => ['ip', 'netns', 'exec', ns(host)],
    run: (host, argv) => sh(['ip', 'netns', 'exec', ns(host), ...argv]),
    delay: (host, ms) => addDelay(ns(host), ms),
    down,
  }
}

let queues = 0

async function addDelay(ns: string, ms: number): Promise<{ how: string; undo: () => void }> {
  const exec = ['ip', 'netns', 'exec', ns]
  const netem = Bun.spawnSync(
    [...exec, 'tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'netem', 'delay', `${ms}ms`],
    {
      stderr: 'pipe',
    },
  )
  if (netem.exitCode === 0) {
    return {
      how: 'tc netem',
      undo: () => void Bun.spawnSync([...exec, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root']),
    }
  }
  // This kernel has no sch_netem: hold each outgoing packet in user space instead.
  const queue = queues++
  const delayer = Bun.spawn([...exec, process.execPath, DELAYER, String(queue), String(ms)], {
    stdout: 'pipe',
    stderr: 'inherit',
  })
  const reader = delayer.stdout.getReader()
  const first = await reader.read()
  if (!new TextDecoder().decode(first.value).includes('ready')) {
    throw new Error(
      `the NFQUEUE delayer did not start in ${ns} (tc netem failed too: ${netem.stderr.toString().trim()})`,
    )
  }
  const rule = ['OUTPUT', '-o', 'eth0', '-j', 'NFQUEUE', '--queue-num', String(queue), '--queue-bypass']
  sh([...exec, 'iptables', '-A', ...rule])
  return {
    how: 'an NFQUEUE delayer (no netem in this kernel)',
    undo: () => {
      Bun.spawnSync([...exec, 'iptables', '-D', ...rule])
      delayer.kill('SIGTERM')
    },
  }
}
