import yargs, { type Argv, type CommandModule } from 'yargs'
import { GridError } from '../errors'
import { accountCommands } from './commands/account'
import { creditsCommand } from './commands/credits'
import { doctorCommand } from './commands/doctor'
import { inviteCommand } from './commands/invite'
import { jobCommands } from './commands/jobs'
import { migrateCommand } from './commands/migrate'
import { serveCommand } from './commands/serve'
import { submitCommand } from './commands/submit'
import { verifyCommand } from './commands/verify'
import { workCommand } from './commands/work'
import { versionCommand } from './version'

/** Every command of gridx, wired for yargs; `setExit` receives the exit code of the one that runs. */
export function allCommands(setExit: (code: number) => void): CommandModule<object, never>[] {
  return [
    serveCommand(setExit),
    workCommand(setExit),
    submitCommand(setExit),
    ...accountCommands(setExit),
    ...jobCommands(setExit),
    creditsCommand(setExit),
    inviteCommand(setExit),
    verifyCommand(setExit),
    migrateCommand(setExit),
    doctorCommand(setExit),
    versionCommand(),
  ] as unknown as CommandModule<object, never>[]
}

/** gridx's yargs program over `commands`: its parser settings, checks, help and usage errors. */
export function gridxYargs(argv: string[], commands: CommandModule<object, never>[]): Argv {
  const cli = yargs(argv)
    .scriptName('gridx')
    .parserConfiguration({ 'populate--': true })
    // Array options (--file, --images) collect repeats; any other option given twice keeps the last.
    .middleware((args) => {
      // getOptions is yargs' own (untyped) view of the running command's options.
      const arrays = new Set((cli as unknown as { getOptions(): { array: string[] } }).getOptions().array)
      for (const [k, v] of Object.entries(args)) {
        if (Array.isArray(v) && k !== '_' && k !== '--' && !arrays.has(k)) args[k] = v.at(-1)
      }
    }, true)
  for (const c of commands) cli.command(c)
  return (
    cli
      .demandCommand(
        1,
        'name a command: serve, work, submit, jobs, status, logs, cancel, workers, credits, invite, verify, migrate, doctor, register, login, whoami, version',
      )
      .strict()
      // `--version` is the version command (main.ts), which says more than yargs' own would.
      .version(false)
      .option('version', {
        type: 'boolean',
        alias: 'V',
        describe: "print the release and platform (as 'gridx version')",
      })
      .help()
      .wrap(Math.min(110, process.stdout.columns || 100))
      .fail((msg, err) => {
        throw (
          err ?? new GridError('usage', `${msg}\nRun 'gridx --help' (or 'gridx COMMAND --help') for usage.`)
        )
      })
  )
}

/**
 * Parses `argv` with yargs and runs the command it names; `setExit` receives the command's exit
 * code. A command's code loads only when it runs (src/cli/commands/*): `gridx submit --help`
 * evaluates no other command.
 */
export async function runCli(argv: string[], setExit: (code: number) => void): Promise<void> {
  const all = allCommands(setExit)
  // A line that starts with a command's name needs no other command: registering each costs yargs
  // CPU, and neither the command's help nor its errors mention the others.
  const named = all.filter((c) => String(c.command).split(' ')[0] === argv[0])
  await gridxYargs(argv, named.length > 0 ? named : all).parseAsync()
}
