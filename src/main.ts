#!/usr/bin/env bun
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { accountCommands } from './cli/account'
import { creditsCommand } from './cli/credits'
import { doctorCommand } from './cli/doctor'
import { inviteCommand } from './cli/invite'
import { verifyCommand } from './cli/verify'
import { jobCommands } from './cli/jobs'
import { migrateCommand } from './cli/migrate'
import { serveCommand } from './cli/serve'
import { submitCommand } from './cli/submit'
import { versionCommand } from './cli/version'
import { workCommand } from './cli/work'
import { GridError } from './errors'
import { escapeTerminal } from './protocol/text'

/** Exit codes of errors a script may want to tell apart; every other error exits 1. */
const EXIT_CODES: Readonly<Record<string, number>> = {
  usage: 2,
  /** `gridx doctor` ran, and at least one check failed. */
  checks_failed: 3,
}

/** Parses the command line, runs one command, and maps any error to a message and exit code. */
async function main(argv: string[]): Promise<number> {
  let code = 0
  const setExit = (c: number) => {
    code = c
  }
  try {
    const cli = yargs(argv)
    await cli
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
      .command(serveCommand(setExit))
      .command(workCommand(setExit))
      .command(submitCommand(setExit))
      .command(accountCommands(setExit))
      .command(jobCommands(setExit))
      .command(creditsCommand(setExit))
      .command(inviteCommand(setExit))
      .command(verifyCommand(setExit))
      .command(migrateCommand(setExit))
      .command(doctorCommand(setExit))
      .command(versionCommand())
      .demandCommand(
        1,
        'name a command: serve, work, submit, jobs, status, logs, cancel, workers, credits, invite, verify, migrate, doctor, register, login, whoami, version',
      )
      .strict()
      // `--version` is the version command (main below), which says more than yargs' own would.
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
      .parseAsync()
    return code
  } catch (err) {
    if (err instanceof GridError) {
      // Messages quote what coordinators and workers sent: escaped, so they cannot steer the terminal.
      process.stderr.write(`gridx: ${escapeTerminal(err.message, { keepNewlines: true })}\n`)
      return EXIT_CODES[err.code] ?? 1
    }
    process.stderr.write(
      `gridx: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    )
    return 70
  }
}

// No top-level await: the binary is compiled to bytecode for a fast start.
const argv = hideBin(process.argv)
// `--version` (or -V) anywhere before `--` is `gridx version`.
const end = argv.includes('--') ? argv.indexOf('--') : argv.length
if (argv.slice(0, end).some((a) => a === '--version' || a === '-V')) argv.splice(0, argv.length, 'version')
void main(argv).then((code) => process.exit(code))
