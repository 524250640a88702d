import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { basename } from 'node:path'

/** What holds a listening TCP port: the socket's owner (always known), and the process when it can be seen. */
export interface PortHolder {
  uid: number
  pid?: number | undefined
  /** The program's command line, when /proc shows it (root, or the same user). */
  command?: string | undefined
  /** True when the program is a gridx coordinator (`gridx serve`, any gridx file name). */
  gridx: boolean
}

/** The socket inodes and owners of listening TCP sockets on `port`, from /proc/net/tcp and tcp6. */
function listeners(port: number): { inode: string; uid: number }[] {
  const found: { inode: string; uid: number }[] = []
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/)
      const local = f[1]?.split(':')[1]
      if (f[3] !== '0A' || local === undefined || Number.parseInt(local, 16) !== port) continue
      found.push({ inode: f[9] ?? '', uid: Number(f[7]) })
    }
  }
  return found
}

/** The process that has socket `inode` open, if this user may look at it. */
function processOf(inode: string): number | undefined {
  const target = `socket:[${inode}]`
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let fds: string[]
    try {
      fds = readdirSync(`/proc/${pid}/fd`)
    } catch {
      continue
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === target) return Number(pid)
      } catch {
        // The descriptor closed while we looked.
      }
    }
  }
  return undefined
}

/** Whether a command line is a gridx coordinator: a gridx binary (dist/gridx, gridx-0.1.0-linux-x64) serving. */
export function isGridxServe(argv: string[]): boolean {
  const [program = '', ...args] = argv
  const gridxBinary = /^gridx(-|$|\.exe$)/.test(basename(program))
  const fromSource = args.some((a) => /(^|\/)src\/main\.ts$/.test(a))
  return (gridxBinary || fromSource) && args.includes('serve')
}

/** Who listens on TCP `port` here (Linux only), or undefined when nothing does or /proc cannot say. */
export function portHolder(port: number): PortHolder | undefined {
  if (process.platform !== 'linux') return undefined
  const [first] = listeners(port)
  if (!first) return undefined
  const pid = processOf(first.inode)
  if (pid === undefined) return { uid: first.uid, gridx: false }
  let argv: string[] = []
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
  } catch {
    // It ended meanwhile.
  }
  return { uid: first.uid, pid, command: argv.join(' '), gridx: isGridxServe(argv) }
}
