import type { CommandModule } from 'yargs'
import type { Flags } from '../verify'
import { jsonOption } from '../options'

/** The command's code, loaded only when it runs. */
const load = () => import('../verify')

/** yargs wiring of `gridx verify`. */
export function verifyCommand(setExit: (code: number) => void): CommandModule<object, Flags> {
  return {
    command: 'verify [receipt]',
    describe: "check a job's signed receipt offline (file, or - for stdin)",
    builder: (y) =>
      jsonOption(y)
        .positional('receipt', { type: 'string', describe: "receipt file from 'gridx status ID --receipt'" })
        .option('public-key', {
          type: 'string',
          describe: "the worker's public key (base64) to check against",
        })
        .example('$0 status k3x9a2m4p7qz --receipt > r.json && $0 verify r.json', ''),
    handler: async (a) => setExit((await load()).verify(a)),
  }
}
