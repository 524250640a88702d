#!/usr/bin/env bun
import { GridError } from './errors'

/** Parses the command line, runs one command, and maps any error to a message and exit code. */
async function main(argv: string[], json: boolean): Promise<number> {
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
    const { exitCodeFor, jsonError } = await import('./cli/exit-codes')
    if (err instanceof GridError) {
      // Under --json the error is JSON on stdout, where the answer would have been (docs/JSON.md).
      if (json) process.stdout.write(`${jsonError(err.code, err.message)}\n`)
      else {
        const { escapeTerminal } = await import('./protocol/terminal')
        const { paint } = await import('./cli/style')
        // Messages quote what coordinators and workers sent: escaped, so they cannot steer the terminal.
        process.stderr.write(
          `${paint('error', 'gridx:', 2)} ${escapeTerminal(err.message, { keepNewlines: true })}\n`,
        )
      }
      return exitCodeFor(err.code)
    }
    const text = err instanceof Error ? (err.stack ?? err.message) : String(err)
    if (json) process.stdout.write(`${jsonError('internal', `unexpected error: ${text}`)}\n`)
    else process.stderr.write(`gridx: unexpected error: ${text}\n`)
    return 70
  }
}

// No top-level await: the binary is compiled to bytecode for a fast start.
// A compiled binary's argv is [bun, /$bunfs/root/gridx, ...] and `bun src/main.ts` gives the same shape.
const argv = process.argv.slice(2)
// `--version` (or -V) anywhere before `--` is `gridx version`.
const end = argv.includes('--') ? argv.indexOf('--') : argv.length
const own = argv.slice(0, end)
const json = own.some((a) => a === '--json' || a === '--json=true')
if (own.some((a) => a === '--version' || a === '-V'))
  argv.splice(0, argv.length, 'version', ...(json ? ['--json'] : []))
void main(argv, json).then((code) => process.exit(code))
