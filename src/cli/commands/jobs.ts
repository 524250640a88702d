import type { Argv, CommandModule } from 'yargs'
import type { Flags } from '../jobs'
import { connectionOptions, jsonOption } from '../options'

/** The command's code, loaded only when it runs. */
const load = () => import('../jobs')

/** yargs wiring of the inspect-and-control commands. */
export function jobCommands(setExit: (code: number) => void): CommandModule<object, Flags>[] {
  const withIds = (y: Argv) =>
    jsonOption(connectionOptions(y)).positional('ids', {
      type: 'string',
      array: true,
      describe: 'job ids (or unique prefixes of them, at least 4 characters)',
      demandOption: true,
    })
  const withId = (y: Argv) =>
    jsonOption(connectionOptions(y)).positional('id', {
      type: 'string',
      describe: 'job id (or a unique prefix of it, at least 4 characters)',
      demandOption: true,
    })
  return [
    {
      command: 'jobs',
      describe: 'list your newest live jobs (--all: finished ones too)',
      builder: (y) =>
        jsonOption(connectionOptions(y))
          .option('limit', { type: 'number', default: 20, describe: 'most jobs to list (1-1000)' })
          .option('all', { type: 'boolean', alias: 'a', describe: 'include finished jobs' })
          .option('state', {
            type: 'string',
            array: true,
            nargs: 1,
            describe: 'only jobs in this state (repeatable or comma-separated; finished states too)',
          })
          .option('name', { type: 'string', describe: "only jobs whose name matches this glob ('sweep*')" })
          .option('label', {
            type: 'string',
            array: true,
            nargs: 1,
            describe: 'only jobs with this label key=value (repeatable: all must match)',
          })
          .option('everyone', {
            type: 'boolean',
            describe: "every user's jobs, with an OWNER column (operators only)",
          })
          .option('expand', {
            type: 'boolean',
            describe: "list an array's members one by one (default: one row per array)",
          })
          .example('$0 jobs --all --limit 50', '')
          .example("$0 jobs --state running --name 'sweep*' --label exp=3", ''),
      handler: async (a) => setExit(await (await load()).jobs(a)),
    },
    {
      command: 'status <ids..>',
      describe: 'show jobs, or arrays (summary and members)',
      builder: (y) =>
        withIds(y)
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
      command: 'cancel <ids..>',
      describe: 'cancel jobs (running ones are stopped), or the members of arrays not yet ended',
      builder: (y) => withIds(y).example('$0 cancel k3x9a2m4p7qz k3x9b7', ''),
      handler: async (a) => setExit(await (await load()).cancel(a)),
    },
    {
      command: 'wait <ids..>',
      describe: "wait for jobs to end; exit 0 if all succeeded, else the first failure's code",
      builder: (y) =>
        withIds(y)
          .option('timeout', {
            type: 'string',
            describe: 'give up after this long (90s, 10m, 1h30m): exit code 5',
          })
          .example('$0 wait k3x9a2m4p7qz k3x9b7 --timeout 1h', ''),
      handler: async (a) => setExit(await (await import('../wait')).wait(a)),
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
