import type { Argv, CommandModule } from 'yargs'
import type { Flags } from '../jobs'
import { connectionOptions, jsonOption } from '../options'

/** The command's code, loaded only when it runs. */
const load = () => import('../jobs')

/** yargs wiring of the inspect-and-control commands. */
export function jobCommands(setExit: (code: number) => void): CommandModule<object, Flags>[] {
  const withId = (y: Argv) =>
    jsonOption(connectionOptions(y)).positional('id', {
      type: 'string',
      describe: 'job id',
      demandOption: true,
    })
  return [
    {
      command: 'jobs',
      describe: 'list your newest jobs',
      builder: (y) =>
        jsonOption(connectionOptions(y))
          .option('limit', { type: 'number', default: 20 })
          .option('expand', {
            type: 'boolean',
            describe: "list an array's members one by one (default: one row per array)",
          })
          .example('$0 jobs --limit 50', ''),
      handler: async (a) => setExit(await (await load()).jobs(a)),
    },
    {
      command: 'status <id>',
      describe: 'show one job, or an array (summary and members)',
      builder: (y) =>
        withId(y)
          .option('receipt', {
            type: 'boolean',
            describe: "print the worker's signed receipt (check it with 'gridx verify')",
          })
          .example('$0 status k3x9a2m4p7qz', '')
          .example('$0 status k3x9a2m4p7qz --receipt > receipt.json', ''),
      handler: async (a) => setExit(await (await load()).status(a)),
    },
    {
      command: 'logs <id>',
      describe: "print a job's output (-f: follow until it ends)",
      builder: (y) =>
        withId(y)
          .option('follow', { type: 'boolean', alias: 'f', default: false })
          .option('index', {
            type: 'number',
            describe: "with an array's id: which member's output (gridx logs ARRAY --index 7)",
          })
          .example('$0 logs -f k3x9a2m4p7qz', ''),
      handler: async (a) => setExit(await (await load()).logs(a)),
    },
    {
      command: 'cancel <id>',
      describe: 'cancel a job (a running one is stopped), or the members of an array not yet ended',
      builder: (y) => withId(y).example('$0 cancel k3x9a2m4p7qz', ''),
      handler: async (a) => setExit(await (await load()).cancel(a)),
    },
    {
      command: 'download <id>',
      describe: 'save the files a job wrote to /out (into ./gridx-out/ID; an array: ./gridx-out/ARRAY/INDEX)',
      builder: (y) =>
        withId(y)
          .option('output', { type: 'string', alias: 'o', describe: 'directory to save into' })
          .example('$0 download k3x9a2m4p7qz -o results/', ''),
      handler: async (a) => setExit(await (await load()).downloadCommand(a)),
    },
    {
      command: 'workers',
      describe: 'list connected workers',
      builder: (y) => jsonOption(connectionOptions(y)).example('$0 workers --json', ''),
      handler: async (a) => setExit(await (await load()).workers(a)),
    },
  ]
}
