import type { CommandModule } from 'yargs'
import type { Flags } from '../context'
import { jsonOption } from '../options'

/** The command's code, loaded only when it runs. */
const load = () => import('../context')

/** yargs wiring of `gridx context ls | use NAME | add NAME --coordinator ADDR | rm NAME`. */
export function contextCommand(setExit: (code: number) => void): CommandModule<object, Flags> {
  return {
    command: 'context [action] [name]',
    describe: 'saved contexts (a coordinator and an account): list, switch, add, remove',
    builder: (y) =>
      jsonOption(y)
        .positional('action', {
          type: 'string',
          choices: ['ls', 'use', 'add', 'rm'] as const,
          default: 'ls',
          describe:
            'ls: list them; use: make NAME current; add: save NAME for --coordinator; rm: remove NAME',
        })
        .positional('name', { type: 'string', describe: 'the context' })
        .option('coordinator', {
          type: 'string',
          alias: 'coordinator-ip',
          describe: "add: the context's coordinator (host, host:port, URL, or a comma-separated list)",
        })
        .option('user', {
          type: 'string',
          alias: 'u',
          describe: 'add: the account it uses (log in with --context NAME)',
        })
        .example('$0 context ls', '* marks the current context')
        .example('$0 context use alice@lab.lan', 'later commands use it')
        .example(
          '$0 context add home --coordinator 192.168.1.100',
          "then 'gridx login --context home --user alice'",
        )
        .example('$0 context rm home', 'and its saved login'),
    handler: async (a) => setExit(await (await load()).context(a)),
  }
}
