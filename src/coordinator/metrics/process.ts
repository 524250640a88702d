import { readdirSync, readFileSync } from 'node:fs'
import { VERSION } from '../../version'
import type { Registry } from './registry'

/** A /proc file's text, or undefined where there is none (not Linux, or hidden). */
function proc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

/** A `Vm...:  1234 kB` line of /proc/self/status, in bytes. */
export function statusBytes(status: string, field: string): number | undefined {
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status)
  return m ? Number(m[1]) * 1024 : undefined
}

/** The soft limit on open files from /proc/self/limits (undefined when unlimited or unknown). */
export function maxFiles(limits: string): number | undefined {
  const m = /^Max open files\s+(\d+)/m.exec(limits)
  return m ? Number(m[1]) : undefined
}

/**
 * The conventional `process_*` metrics (as Prometheus' client libraries name them) and
 * `gridx_build_info`. CPU and resident memory come from the runtime on every platform; virtual
 * memory and file descriptors from /proc/self on Linux, and are left out elsewhere.
 */
export function processMetrics(registry: Registry, startedAtMs: number): void {
  registry
    .gauge({ name: 'gridx_build_info', help: 'Always 1; the version of this gridx.', labels: ['version'] })
    .labels(VERSION)
    .set(1)
  registry.counter({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    collect: (set) => {
      const { user, system } = process.cpuUsage()
      set((user + system) / 1e6)
    },
  })
  registry
    .gauge({
      name: 'process_start_time_seconds',
      help: 'Start time of the process since unix epoch in seconds.',
    })
    .set(startedAtMs / 1000)
  registry.gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    collect: (set) => set(process.memoryUsage.rss()),
  })
  registry.gauge({
    name: 'process_virtual_memory_bytes',
    help: 'Virtual memory size in bytes.',
    collect: (set) => {
      const status = proc('/proc/self/status')
      const v = status === undefined ? undefined : statusBytes(status, 'VmSize')
      if (v !== undefined) set(v)
    },
  })
  registry.gauge({
    name: 'process_open_fds',
    help: 'Number of open file descriptors.',
    collect: (set) => {
      try {
        // Less the descriptor of the directory being read.
        set(readdirSync('/proc/self/fd').length - 1)
      } catch {
        // Not Linux: nothing to say.
      }
    },
  })
  registry.gauge({
    name: 'process_max_fds',
    help: 'Maximum number of open file descriptors.',
    collect: (set) => {
      const limits = proc('/proc/self/limits')
      const n = limits === undefined ? undefined : maxFiles(limits)
      if (n !== undefined) set(n)
    },
  })
}
