import type { CommandModule } from 'yargs'
import type { Flags } from '../doctor'
import { connectionOptions, credentialOptions, jsonOption } from '../options'

/** The command's code, loaded only when it runs. */
const load = () => import('../doctor')

/** yargs wiring of `gridx doctor`. */
export function doctorCommand(setExit: (code: number) => void): CommandModule<object, Flags> {
  return {
    command: 'doctor',
    describe: 'check DNS, ports, firewall, TLS, clock, credentials and Docker; say what to fix',
    builder: (y) =>
      jsonOption(credentialOptions(connectionOptions(y)))
        .option('serve', {
          type: 'boolean',
          describe: "check this machine as the coordinator's host: ports, addresses, firewall",
        })
        .option('host', { type: 'string', describe: "with --serve: the address 'gridx serve' would bind" })
        .option('worker', {
          type: 'boolean',
          describe: 'check this machine as a worker host: Docker must be there and work',
        })
        .option('docker', {
          type: 'boolean',
          default: true,
          describe: 'check the Docker engine (--no-docker skips it)',
        })
        .option('images', {
          type: 'string',
          array: true,
          describe: "as for 'gridx work': images jobs may use, to find here or pullable (default 'python:*')",
        })
        .option('pull', {
          type: 'boolean',
          describe: "as for 'gridx work' (--no-pull: only images here count)",
        })
        .option('runtime', { type: 'string', describe: "as for 'gridx work': the OCI runtime to try" })
        .option('timeout', { type: 'string', describe: 'deadline of each network check (default 3s)' })
        .example('$0 doctor --coordinator 192.168.1.100', 'from a user or worker machine')
        .example('$0 doctor --worker --coordinator 192.168.1.100', 'a worker host: Docker must work too')
        .example('$0 doctor --serve', 'on the machine that runs gridx serve'),
    handler: async (a) => setExit(await (await load()).doctor(a)),
  }
}
