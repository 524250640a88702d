import type { CommandModule } from 'yargs'
import type { Flags } from '../submit'
import { DEFAULT_IMAGE } from '../../protocol/images'
import { connectionOptions, jsonOption } from '../options'

/** The command's code, loaded only when it runs. */
const load = () => import('../submit')

/** yargs wiring of `gridx submit`. */
export function submitCommand(setExit: (code: number) => void): CommandModule<object, Flags> {
  return {
    command: 'submit [script]',
    describe: 'run a script (or --image with a command) on the grid; its output streams back live',
    builder: (y) =>
      jsonOption(connectionOptions(y))
        .positional('script', { type: 'string', describe: 'Python script to run (arguments after --)' })
        .option('image', { type: 'string', describe: `container image (default ${DEFAULT_IMAGE})` })
        .option('timeout', {
          type: 'string',
          describe: 'wall-clock limit: seconds or 90s, 10m, 2h, 1h30m; from 1s to 7d (default 10m)',
        })
        .option('cpus', { type: 'string', describe: 'CPUs for the job, such as 2 or 0.5 (default 1)' })
        .option('memory', { type: 'string', describe: 'memory limit, e.g. 512m, 2g (default 512m)' })
        .option('priority', {
          type: 'string',
          describe: 'order among your own queued jobs: -100..100, higher first (default 0)',
        })
        .option('detach', { type: 'boolean', alias: 'd', describe: 'print the job id and return at once' })
        .option('quiet', { type: 'boolean', alias: 'q', describe: 'print only the job output' })
        .option('file', {
          type: 'string',
          array: true,
          describe: "input file or directory, put in the job's working directory (repeatable)",
        })
        .option('entry', {
          type: 'string',
          describe: 'with a directory instead of a script: the script in it to run',
        })
        .option('output', {
          type: 'string',
          alias: 'o',
          describe: 'where to save the files the job writes to /out (default ./gridx-out/JOB_ID)',
        })
        .option('download', {
          type: 'boolean',
          describe: "save the job's /out files when it ends (default true)",
        })
        .option('requirements', {
          type: 'string',
          alias: 'r',
          describe:
            "a requirements.txt of Python packages to install for the job (used instead of the script's '# /// script' block)",
        })
        .option('deps', {
          type: 'boolean',
          describe:
            "install the packages the script declares (PEP 723 '# /// script' block), --requirements, or a directory's requirements.txt / pyproject.toml (default true; --no-deps ignores them all)",
        })
        .option('env', {
          type: 'string',
          alias: 'e',
          array: true,
          nargs: 1,
          describe: 'set an environment variable in the job: KEY=VALUE (repeatable; GRIDX_* is reserved)',
        })
        .option('env-file', {
          type: 'string',
          describe: 'read environment variables from a file of KEY=VALUE lines (# comments)',
        })
        .option('name', { type: 'string', describe: "a name for the job (filter with 'gridx jobs --name')" })
        .option('label', {
          type: 'string',
          array: true,
          nargs: 1,
          describe: "a label key=value for the job (repeatable; filter with 'gridx jobs --label')",
        })
        .option('array', {
          type: 'string',
          describe:
            'make an array of jobs in one go: 0-99, 1-7:2, 0,4,9, %N caps how many run at once (0-99%10); each sees GRIDX_ARRAY_INDEX and GRIDX_ARRAY_ID',
        })
        .option('after', {
          type: 'string',
          describe:
            'start only once these jobs (or arrays) all succeeded: ID[,ID...]; if one fails, this job is cancelled',
        })
        .option('after-any', {
          type: 'boolean',
          describe: 'with --after: start once they ended, however they ended',
        })
        .example('$0 submit job.py -- arg1 arg2', 'run job.py with two arguments')
        .example(
          '$0 submit job.py --file data.csv --file images/',
          'with input files; /out comes back to ./gridx-out/ID',
        )
        .example('$0 submit project/ --entry main.py', 'upload a directory and run main.py in it')
        .example(
          '$0 submit job.py --requirements requirements.txt',
          'install these packages for the job first',
        )
        .example(
          '$0 submit sweep.py --name sweep-3 --label exp=3 -e SEED=7',
          'named, labelled, with a variable',
        )
        .example('$0 submit --image busybox --timeout 90s -- sh -c "echo hi"', 'run a command in an image'),
    handler: async (a) => setExit(await (await load()).submit(a)),
  }
}
