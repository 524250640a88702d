import type { CommandModule } from 'yargs'
import type { Flags } from '../migrate'
import { jsonOption } from '../options'

/** The command's code, loaded only when it runs. */
const load = () => import('../migrate')

/** yargs wiring of `gridx migrate`. */
export function migrateCommand(setExit: (code: number) => void): CommandModule<object, Flags> {
  return {
    command: 'migrate',
    describe: "move a stopped coordinator's SQLite grid into an empty PostgreSQL database",
    builder: (y) =>
      jsonOption(y)
        .option('from', {
          type: 'string',
          describe: "the stopped coordinator's gridx.db (default $GRIDX_HOME/coordinator/gridx.db)",
        })
        .option('to', {
          type: 'string',
          describe:
            'the empty PostgreSQL database: postgres://USER:PASSWORD@HOST:PORT/DATABASE (env GRIDX_DATABASE_URL)',
        })
        .option('from-blobs', {
          type: 'string',
          describe: "the source's stored files (default: the blobs folder beside --from)",
        })
        .option('to-blob-dir', {
          type: 'string',
          describe:
            'copy the stored files into this folder, for coordinators run with --blob-dir (default: into the PostgreSQL database)',
        })
        .example(
          '$0 migrate --from ~/.gridx/coordinator/gridx.db --to postgres://gridx:PW@db.lab:5432/gridx',
          '',
        ),
    handler: async (a) => setExit(await (await load()).migrate(a)),
  }
}
