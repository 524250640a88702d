#!/usr/bin/env bun
import { GridError } from './errors'

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
    // The common `gridx submit` lines skip yargs (src/cli/fast-submit.ts); everything else,
    // help included, goes through it (as does any `version` with flags). Both load here, not at the top, so neither pays for the other.
    const fast =
      argv[0] === 'submit' ? (await import('./cli/fast-submit')).parseSubmitFast(argv.slice(1)) : undefined
    if (fast) {
      const run = await import('./cli/submit')
      run.oneShot()
      return await run.submit(fast)
    }
    if (argv.length === 1 && argv[0] === 'version') {
      await (await import('./cli/version')).printVersion(false)
      return 0
    }
    const { runCli } = await import('./cli/program')
    await runCli(argv, setExit)
    return code
  } catch (err) {
    if (err instanceof GridError) {
      const { escapeTerminal } = await import('./protocol/terminal')
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
// A compiled binary's argv is [bun, /$bunfs/root/gridx, ...] and `bun src/main.ts` gives the same shape.
const argv = process.argv.slice(2)
// `--version` (or -V) anywhere before `--` is `gridx version`.
const end = argv.includes('--') ? argv.indexOf('--') : argv.length
if (argv.slice(0, end).some((a) => a === '--version' || a === '-V')) argv.splice(0, argv.length, 'version')
void main(argv).then((code) => process.exit(code))
