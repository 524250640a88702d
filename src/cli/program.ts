import yargs, { type Argv, type CommandModule } from 'yargs'
import { GridError } from '../errors'
import { accountCommands } from './commands/account'
import { creditsCommand } from './commands/credits'
import { doctorCommand } from './commands/doctor'
import { inviteCommand } from './commands/invite'
import { jobCommands } from './commands/jobs'
import { migrateCommand } from './commands/migrate'
import { serveCommand } from './commands/serve'
import { completionCommand } from './commands/completion'
import { contextCommand } from './commands/context'
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
    contextCommand(setExit),
    ...jobCommands(setExit),
    creditsCommand(setExit),
    inviteCommand(setExit),
    verifyCommand(setExit),
    migrateCommand(setExit),
    doctorCommand(setExit),
    completionCommand(),
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
        'name a command: serve, work, submit, jobs, status, logs, cancel, wait, workers, credits, invite, verify, migrate, doctor, register, login, whoami, context, completion, version',
      )
      .strict()
      // `--version` is the version command (main.ts), which says more than yargs' own would.
      .version(false)
      .option('version', {
        type: 'boolean',
        alias: 'V',
        describe: "print the release and platform (as 'gridx version')",
      })
      .option('color', {
        type: 'boolean',
        describe: 'colour states and errors on a terminal (--no-color, or env NO_COLOR, turns it off)',
      })
      .help()
      .alias('help', 'h')
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
  const names = all.map((c) => String(c.command).split(' ')[0]!)
  // `gridx help submit` is `gridx submit --help` (and `gridx help` is `gridx --help`).
  if (argv[0] === 'help') argv = [...argv.slice(1).filter((a) => a !== '--help' && a !== '-h'), '--help']
  const first = argv[0]
  if (first !== undefined && !first.startsWith('-') && !names.includes(first)) {
    const near = nearest(first, names)
    throw new GridError(
      'usage',
      `'${first}' is not a gridx command${near ? `: did you mean ${near}?` : ''}\nRun 'gridx --help' for the list of commands.`,
    )
  }
  // A line that starts with a command's name needs no other command: registering each costs yargs
  // CPU, and neither the command's help nor its errors mention the others.
  const named = all.filter((c) => String(c.command).split(' ')[0] === argv[0])
  await gridxYargs(argv, named.length > 0 ? named : all).parseAsync()
}

/** The name in `names` closest to `word` (by edit distance, at most 2 edits or a prefix), or undefined. */
export function nearest(word: string, names: readonly string[]): string | undefined {
  let best: string | undefined
  let bestD = Infinity
  for (const n of names) {
    const d = n.startsWith(word) && word.length >= 2 ? 0.5 : editDistance(word, n)
    if (d < bestD) [best, bestD] = [n, d]
  }
  return bestD <= Math.max(1, Math.min(2, Math.floor(word.length / 3))) ? best : undefined
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit (sumbit -> submit). */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0]![j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1)
      d[i]![j] = v
    }
  }
  return d[a.length]![b.length]!
}
