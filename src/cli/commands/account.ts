import type { Argv, CommandModule } from 'yargs'
import type { Flags } from '../account'
import { connectionOptions, credentialOptions, jsonOption } from '../options'

/** The command's code, loaded only when it runs. */
const load = () => import('../account')

const joinOption = {
  type: 'string',
  describe:
    'join token (gx1_...): finds the coordinator, pins its certificate and uses its invite (env GRIDX_JOIN)',
} as const

/** yargs wiring of register, login, logout and whoami. */
export function accountCommands(setExit: (code: number) => void): CommandModule<object, Flags>[] {
  const builder = (example: string) => (y: Argv) =>
    credentialOptions(connectionOptions(y)).example(example, '')
  return [
    {
      command: 'register',
      describe: 'create an account on a coordinator (and log in)',
      builder: (y) =>
        builder(
          "$0 register --coordinator 192.168.1.100 --invite gxi_... --user alice --password 'long secret'",
        )(y)
          .option('invite', {
            type: 'string',
            describe: "invite code from the coordinator's operator ('gridx invite'; env GRIDX_INVITE)",
          })
          .option('join', joinOption)
          .conflicts('join', ['coordinator', 'invite'])
          .example(
            '$0 register --join gx1_... --user alice',
            "the line 'gridx serve' or 'gridx invite' printed",
          ),
      handler: async (a) => setExit(await (await load()).register(a)),
    },
    {
      command: 'login',
      describe: 'log in; the token is saved in $GRIDX_HOME/credentials.json',
      builder: (y) =>
        builder('$0 login --coordinator 192.168.1.100 --user alice')(y)
          .option('join', joinOption)
          .conflicts('join', 'coordinator'),
      handler: async (a) => setExit(await (await load()).login(a)),
    },
    {
      command: 'logout',
      describe: 'revoke and forget the saved token',
      builder: (y) => connectionOptions(y).example('$0 logout', ''),
      handler: async (a) => setExit(await (await load()).logout(a)),
    },
    {
      command: 'whoami',
      describe: 'the account you are logged in as, the coordinator, and whether you are an operator',
      builder: (y) => jsonOption(connectionOptions(y)).example('$0 whoami', ''),
      handler: async (a) => setExit(await (await load()).whoami(a)),
    },
  ]
}
