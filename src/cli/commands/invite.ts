import type { CommandModule } from 'yargs'
import type { Flags } from '../invite'
import { connectionOptions, jsonOption } from '../options'

/** The command's code, loaded only when it runs. */
const load = () => import('../invite')

/** yargs wiring of `gridx invite`. */
export function inviteCommand(setExit: (code: number) => void): CommandModule<object, Flags> {
  return {
    command: 'invite',
    describe: 'make an invite code that lets one newcomer register (operators); list or revoke them',
    builder: (y) =>
      jsonOption(connectionOptions(y))
        .option('grant', {
          type: 'string',
          describe: "credits the new account starts with (default: the coordinator's --grant)",
        })
        .option('uses', { type: 'number', describe: 'accounts it may create (default 1)' })
        .option('expires', {
          type: 'string',
          describe: 'how long it stays valid, e.g. 2h or 30d (default 7d)',
        })
        .option('list', { type: 'boolean', describe: 'list invites and what became of them' })
        .option('revoke', { type: 'string', describe: 'revoke the invite with this ID' })
        .option('worker', {
          type: 'boolean',
          describe: "print the 'gridx work --join' line for a machine that is to work",
        })
        .conflicts('worker', ['list', 'revoke'])
        .conflicts('list', ['revoke', 'grant', 'uses', 'expires'])
        .conflicts('revoke', ['grant', 'uses', 'expires'])
        .example('$0 invite', 'one account, the default grant, valid 7 days')
        .example('$0 invite --grant 50 --uses 5 --expires 2d', 'five accounts with 50 credits each')
        .example('$0 invite --worker --uses 3 --expires 1d', 'a line that adds up to three machines')
        .example('$0 invite --list', '')
        .example('$0 invite --revoke k3m9x2p4q7rt', ''),
    handler: async (a) => setExit(await (await load()).invite(a)),
  }
}
