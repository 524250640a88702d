// CLI start cost: CPU (user + sys, from wait4's rusage) of one gridx client process against the
// docker CLI's, for --version, submit --help, and a submit of a small script to a real coordinator
// (--detach, and followed to the end on a real worker running Docker).
// Runnable alone (`bun bench/cli-start.ts`) or from bench/run.ts (`cliStartBench`).
// Environment: BENCH_CLI_RUNS (15 per command, median), BENCH_CLI_WARMUP (2, discarded),
// BENCH_CLI_FOLLOW (1: also the followed submit, which needs Docker and the local image),
// BENCH_CLI_BASELINE (path of another gridx, e.g. main's: its rows too, measured in the same rounds).
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { envInt } from './env'
import { BenchGrid } from './grid'
import { type Background, run } from './proc'
import { quantile, round, table } from './stats'
import { IMAGE } from './workload'

const ROOT = resolve(import.meta.dir, '..')
const BUILT = join(ROOT, 'dist', 'gridx')
const RESULTS = join(import.meta.dir, 'cli-start-results.json')
/** gridx may use at most this many times the CPU of `docker run --help`. */
export const CLI_START_TARGET = 1.2
/** The command every ratio is taken against. */
const BASELINE = 'docker run --help'

/** One command's CPU over its runs. */
export interface CliStartRow {
  command: string
  runs: number
  medianCpuMs: number
  minCpuMs: number
  maxCpuMs: number
  medianWallMs: number
  /** median CPU / median CPU of `docker run --help`. */
  ratio: number
  /** Whether a target applies to this command (the docker rows and --version are context). */
  targeted: boolean
  pass: boolean | null
}

/** What the bench measured. */
export interface CliStartResults {
  target: number
  baseline: string
  binary: string
  rows: CliStartRow[]
  /** True when every targeted row is within the target. */
  pass: boolean
}

interface Case {
  command: string
  argv: string[]
  env?: Record<string, string>
  cwd?: string
  targeted: boolean
  /** A run counts only when this holds (a failing command is cheap and would flatter gridx). */
  ok: (stdout: string, stderr: string, code: number) => boolean
}

const SMALL = 'print("ok")\n'

/** Runs every case `runs` times (after `warmup`), round-robin so machine noise spreads over all of them. */
async function measure(cases: Case[], runs: number, warmup: number, log: (l: string) => void) {
  const cpu = new Map<string, number[]>(cases.map((c) => [c.command, []]))
  const wall = new Map<string, number[]>(cases.map((c) => [c.command, []]))
  for (let i = 0; i < warmup + runs; i++) {
    for (const c of cases) {
      const r = await run(c.argv, { env: c.env, cwd: c.cwd, timeoutMs: 120_000 })
      if (!c.ok(r.stdout, r.stderr, r.code)) {
        throw new Error(`${c.command}: unexpected result (exit ${r.code}): ${r.stderr.trim().slice(0, 2000)}`)
      }
      if (i < warmup) continue
      cpu.get(c.command)!.push(r.cpuMs)
      wall.get(c.command)!.push(r.ms)
    }
    if (i >= warmup) log(`  run ${i - warmup + 1}/${runs}`)
  }
  return { cpu, wall }
}

/** Measures the CLI start cost of `bin` (a private copy of dist/gridx) with a coordinator it starts. */
export async function cliStartBench(
  bin: string,
  tmp: string,
  track: (p: Background) => void,
  log: (l: string) => void,
): Promise<CliStartResults> {
  const runs = envInt('BENCH_CLI_RUNS', 15, 1)
  const warmup = envInt('BENCH_CLI_WARMUP', 2, 0)
  const follow = envInt('BENCH_CLI_FOLLOW', 1, 0) > 0
  const binary = (await run([bin, '--version'])).stdout.split('\n')[0] ?? '?'
  const script = join(tmp, 'small.py')
  writeFileSync(script, SMALL)

  log(`starting a coordinator from ${bin}`)
  const grid = await BenchGrid.start(bin, tmp, track)
  await grid.register()
  // Each job escrows up to 10 credits (1 CPU x 10 min); twice over for every submit.
  await grid.fund(20 * 2 * (runs + warmup) + 100)
  if (follow) {
    await grid.startWorker('cli-start-worker', 2, track)
    log(`  worker ${grid.workerId} ready`)
  }
  const env = grid.clientEnv
  const submit = ['submit', '--coordinator', grid.coordinator, '--image', IMAGE, '--memory', '256m']
  const cases: Case[] = [
    {
      command: BASELINE,
      argv: ['docker', 'run', '--help'],
      targeted: false,
      ok: (o, _e, c) => c === 0 && /Usage/.test(o),
    },
    {
      command: 'docker --version',
      argv: ['docker', '--version'],
      targeted: false,
      ok: (_o, _e, c) => c === 0,
    },
    {
      command: 'gridx --version',
      argv: [bin, '--version'],
      targeted: false,
      ok: (o, _e, c) => c === 0 && /^gridx /.test(o),
    },
    {
      command: 'gridx submit --help',
      argv: [bin, 'submit', '--help'],
      env,
      targeted: true,
      ok: (o, _e, c) => c === 0 && o.includes('gridx submit [script]'),
    },
    {
      command: 'gridx submit --detach small.py',
      argv: [bin, ...submit, '--detach', 'small.py'],
      env,
      cwd: tmp,
      targeted: true,
      ok: (o, _e, c) => c === 0 && /^[a-z0-9]+\n$/.test(o),
    },
  ]
  if (follow) {
    cases.push({
      command: 'gridx submit small.py (followed)',
      argv: [bin, ...submit, 'small.py'],
      env,
      cwd: tmp,
      targeted: true,
      ok: (o, _e, c) => c === 0 && o === 'ok\n',
    })
  }
  const baseline = process.env['BENCH_CLI_BASELINE']
  if (baseline) {
    if (!existsSync(baseline)) throw new Error(`BENCH_CLI_BASELINE=${baseline}: no such file`)
    const copy = join(tmp, 'gridx-baseline')
    copyFileSync(baseline, copy)
    for (const c of cases.filter((c) => c.argv[0] === bin)) {
      cases.push({
        ...c,
        command: `baseline ${c.command}`,
        argv: [copy, ...c.argv.slice(1)],
        targeted: false,
      })
    }
  }
  log(`measuring ${cases.length} commands, ${runs} runs each (+${warmup} warm-up), CPU from rusage`)
  const { cpu, wall } = await measure(cases, runs, warmup, log)
  const med = (xs: number[]) => quantile(xs, 0.5)
  const base = med(cpu.get(BASELINE)!)
  const rows: CliStartRow[] = cases.map((c) => {
    const xs = cpu.get(c.command)!
    const ratio = med(xs) / base
    return {
      command: c.command,
      runs: xs.length,
      medianCpuMs: round(med(xs), 2),
      minCpuMs: round(Math.min(...xs), 2),
      maxCpuMs: round(Math.max(...xs), 2),
      medianWallMs: round(med(wall.get(c.command)!), 1),
      ratio: round(ratio, 2),
      targeted: c.targeted,
      pass: c.targeted ? ratio <= CLI_START_TARGET : null,
    }
  })
  log('')
  log(
    table([
      ['command', 'CPU ms (median)', 'min', 'max', 'wall ms', `x ${BASELINE}`, `<= ${CLI_START_TARGET}x`],
      ...rows.map((r) => [
        r.command,
        r.medianCpuMs.toFixed(1),
        r.minCpuMs.toFixed(1),
        r.maxCpuMs.toFixed(1),
        r.medianWallMs.toFixed(0),
        r.ratio.toFixed(2),
        r.pass === null ? '' : r.pass ? 'PASS' : 'MISS',
      ]),
    ]),
  )
  return {
    target: CLI_START_TARGET,
    baseline: BASELINE,
    binary,
    rows,
    pass: rows.every((r) => r.pass !== false),
  }
}

async function main(): Promise<number> {
  if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run 'make build' first`)
  const tmp = mkdtempSync(join(tmpdir(), 'gridx-cli-start-'))
  const stops: Background[] = []
  try {
    // A private copy: a rebuild of dist/gridx during the run must not mix two versions.
    const bin = join(tmp, 'gridx')
    copyFileSync(BUILT, bin)
    console.log(`dist/gridx built ${statSync(BUILT).mtime.toISOString()}`)
    const results = await cliStartBench(bin, tmp, (p) => stops.push(p), console.log)
    writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`)
    console.log(`\nresults written to ${RESULTS}`)
    return results.pass ? 0 : 1
  } finally {
    for (const p of stops.reverse()) await p.stop()
    rmSync(tmp, { recursive: true, force: true })
  }
}

if (import.meta.main) {
  try {
    process.exitCode = await main()
  } catch (err) {
    console.error(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
    process.exitCode = 1
  }
}
