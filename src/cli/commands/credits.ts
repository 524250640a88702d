import type { Argv, CommandModule } from 'yargs'
import type { Flags } from '../credits'
import { connectionOptions, jsonOption } from '../options'

/** The command's code, loaded only when it runs. */
const load = () => import('../credits')

/** yargs wiring of `gridx credits` and its subcommands. */
export function creditsCommand(setExit: (code: number) => void): CommandModule<object, Flags> {
  const common = (y: Argv) => jsonOption(connectionOptions(y))
  return {
    command: 'credits',
    describe: 'your balance, escrow and history; operators: grant and audit',
    builder: (y) =>
      common(y)
        .option('limit', { type: 'number', describe: 'history lines to show' })
        .option('audit', { type: 'boolean', describe: 'check the ledger invariant (operators)' })
        .command({
          command: 'history',
          describe: 'every credit movement, newest first, a page at a time',
          builder: (h) =>
            common(h)
              .option('limit', { type: 'number', default: 50 })
              .option('before', {
                type: 'number',
                describe: 'show movements older than this sequence number',
              })
              .option('all', { type: 'boolean', describe: 'every page' })
              .example('$0 credits history --limit 100', ''),
          handler: async (a) => setExit(await (await load()).history(a as Flags)),
        })
        .command({
          command: 'grant <user> <amount>',
          describe: 'give credits to a user (operators only)',
          builder: (g) =>
            common(g)
              .positional('user', { type: 'string', describe: 'account to credit' })
              .positional('amount', { type: 'string', describe: 'credits, such as 50 or 2.5' })
              .example('$0 credits grant bob 50', ''),
          handler: async (a) => setExit(await (await load()).grant(a as Flags)),
        })
        .example('$0 credits', 'balance, escrow and the last movements')
        .example('$0 credits --audit', 'check that balances + escrow = everything granted'),
    handler: async (a) => setExit(await (await load()).credits(a)),
  }
}
