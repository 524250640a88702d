// `gridx context`: the saved contexts, each a coordinator and an account (like `docker context`
// and `gh auth`). The current one is the last login or the last `gridx context use`; any command
// takes another for one run with --context NAME (or GRIDX_CONTEXT).
import { parseCoordinatorList } from '../client/address-list'
import { CONTEXT_NAME } from '../client/contexts-file'
import { CredentialStore } from '../client/credentials'
import { loadConfig } from '../config'
import { GridError } from '../errors'
import { escapeTerminal } from '../protocol/terminal'
import { out, outPainted } from './options'
import { paint } from './style'

/** The flags yargs parses for this command. */
export type Flags = {
  action?: string
  name?: string
  coordinator?: string
  user?: string
  json?: boolean
}

function named(flags: Flags): string {
  const name = flags.name?.trim()
  if (!name)
    throw new GridError(
      'no_context_name',
      `'gridx context ${flags.action}' needs a context name: 'gridx context ls' lists them`,
    )
  if (!CONTEXT_NAME.test(name))
    throw new GridError(
      'bad_context',
      `'${name}' is not a context name: use letters, digits and . _ @ : + - (at most 100), starting with a letter or digit`,
    )
  return name
}

/** `gridx context`: list, switch, add or remove saved contexts. */
export function context(flags: Flags): Promise<number> {
  return Promise.resolve(run(flags))
}

function run(flags: Flags): number {
  const config = loadConfig({})
  const store = new CredentialStore(config.home)
  switch (flags.action ?? 'ls') {
    case 'use': {
      const name = named(flags)
      const c = store.use(name)
      if (flags.json) out(JSON.stringify({ current: name, ...c }))
      else out(`current context: '${name}' (${c.user ?? 'no account yet'} on ${c.coordinator})`)
      return 0
    }
    case 'add': {
      const name = named(flags)
      const coordinator = flags.coordinator?.trim()
      if (!coordinator)
        throw new GridError(
          'no_coordinator',
          `'gridx context add ${name}' needs --coordinator ADDRESS (host, host:port or URL)`,
        )
      // Checked now: a context that names no coordinator is found out at its first use otherwise.
      parseCoordinatorList(coordinator, { httpPort: config.httpPort, wsPort: config.wsPort })
      const user = flags.user?.trim() || undefined
      store.add(name, { coordinator, ...(user ? { user } : {}) })
      if (flags.json) out(JSON.stringify({ name, coordinator, user: user ?? null }))
      else
        out(
          `added context '${name}' (${coordinator}); log in with 'gridx login --context ${name}${user ? ` --user ${user}` : ' --user NAME'}'`,
        )
      return 0
    }
    case 'rm': {
      const name = named(flags)
      store.rm(name)
      if (flags.json) out(JSON.stringify({ removed: name }))
      else out(`removed context '${name}' (and its saved login, unless another context uses it)`)
      return 0
    }
    case 'ls': {
      // Names are checked; a coordinator or user read from the file is shown escaped.
      const all = store.list().map((c) => ({
        ...c,
        coordinator: escapeTerminal(c.coordinator),
        ...(c.user === undefined ? {} : { user: escapeTerminal(c.user) }),
      }))
      if (flags.json) {
        out(
          JSON.stringify(
            all.map((c) => ({
              name: c.name,
              coordinator: c.coordinator,
              user: c.user ?? null,
              current: c.current,
              loggedIn: c.loggedIn,
            })),
          ),
        )
        return 0
      }
      if (all.length === 0) {
        out(
          "no contexts yet: 'gridx login' (or 'gridx register') makes one, 'gridx context add NAME --coordinator ADDR' another",
        )
        return 0
      }
      const width = (k: (c: (typeof all)[number]) => string, head: string) =>
        Math.max(head.length, ...all.map((c) => k(c).length))
      const cols = [
        width((c) => c.name, 'NAME'),
        width((c) => c.user ?? '-', 'USER'),
        width((c) => c.coordinator, 'COORDINATOR'),
      ]
      const row = (mark: string, a: string, b: string, c: string, d: string) =>
        `${mark} ${a.padEnd(cols[0]!)}  ${b.padEnd(cols[1]!)}  ${c.padEnd(cols[2]!)}  ${d}`.trimEnd()
      out(row(' ', 'NAME', 'USER', 'COORDINATOR', 'LOGIN'))
      for (const c of all)
        outPainted(
          row(
            c.current ? '*' : ' ',
            c.name,
            c.user ?? '-',
            c.coordinator,
            c.loggedIn ? paint('ok', 'saved') : paint('muted', 'none'),
          ),
        )
      return 0
    }
    default:
      throw new GridError('bad_action', `'${flags.action}' is not a context action: use ls, use, add or rm`)
  }
}
