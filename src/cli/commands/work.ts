import type { CommandModule } from 'yargs'
import type { Flags } from '../work'
import { connectionOptions, credentialOptions } from '../options'

/** The command's code, loaded only when it runs. */
const load = () => import('../work')

/** yargs wiring of `gridx work`. */
export function workCommand(setExit: (code: number) => void): CommandModule<object, Flags> {
  return {
    command: 'work',
    describe: "contribute this machine: run other people's jobs in Docker and earn credits",
    builder: (y) =>
      credentialOptions(connectionOptions(y))
        .option('join', {
          type: 'string',
          describe:
            "join token from 'gridx serve' or 'gridx invite --worker': pins the certificate, makes or logs in the account, then works (env GRIDX_JOIN)",
        })
        .conflicts('join', 'coordinator')
        .option('slots', { type: 'number', describe: 'jobs to run at once (default 2)' })
        .option('name', { type: 'string', describe: 'worker name shown to others (default: host name)' })
        .option('drain-timeout', {
          type: 'string',
          describe:
            'on SIGTERM, let running jobs finish for at most this long (e.g. 10m), then hand them back',
        })
        .option('max-cpus', { type: 'number', describe: 'most CPUs one job may ask for (default: all)' })
        .option('max-memory', {
          type: 'string',
          describe: 'most memory one job may ask for, e.g. 4g (default: all)',
        })
        .option('max-timeout', {
          type: 'string',
          describe: 'longest timeout a job may ask for, e.g. 2h (default: none)',
        })
        .option('images', {
          type: 'string',
          array: true,
          describe: "images jobs may use, '*' wildcards, comma-separated or repeated (default 'python:*')",
        })
        .option('pull', {
          type: 'boolean',
          describe:
            'pull allowed images that are missing (default true; --no-pull offers only images present)',
        })
        .option('max-disk', {
          type: 'string',
          describe:
            "size of each job's working directory (in memory, within the job's --memory) and the most it may write to /out, e.g. 10g (default 4g)",
        })
        .option('runtime', {
          type: 'string',
          describe: 'OCI runtime for job containers, e.g. runsc (gVisor)',
        })
        .option('packages', {
          type: 'boolean',
          describe:
            'install the Python packages jobs declare, in a container of their own (default true; --no-packages takes no such jobs)',
        })
        .option('package-index', {
          type: 'string',
          describe:
            'PEP 503 simple index packages come from, e.g. a local mirror (default https://pypi.org/simple)',
        })
        .option('install-network', {
          type: 'string',
          describe: "Docker network of the install step (default 'bridge'); jobs themselves never have one",
        })
        .option('env-cache', {
          type: 'string',
          describe: 'disk the cached package environments may take, e.g. 20g (default 10g)',
        })
        .option('packages-allow-source', {
          type: 'boolean',
          describe:
            'allow building packages from source, which runs their code at install (default: wheels only)',
        })
        .example('$0 work --join gx1_...', "the line 'gridx serve' printed: one paste on a new machine")
        .example("$0 work --coordinator 192.168.1.100 --user alice --password 'long secret'", '')
        .example(
          "$0 work --max-cpus 2 --max-memory 4g --max-timeout 1h --images 'python:*,r-base:*'",
          'limit what runs here',
        ),
    handler: async (a) => setExit(await (await load()).work(a)),
  }
}
