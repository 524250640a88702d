// `make bench`, packages: a job with 2 packages through Grid-X against the same install by hand.
// - first run: what installing costs a job (its wall time minus a no-deps job's) against `pip install`
//   of the same wheels in a plain `docker run` (same image, same index container and network);
// - cached run: the same job once its environment is cached, against a no-deps job.
// Both as ratios of medians, in one run. The wheels and the index are test/support/package-index.ts
// (no internet here). Environment: BENCH_PKG_ROUNDS (7).
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { startPackageIndex } from '../test/support/package-index'
import { BenchGrid } from './grid'
import { type Background, type Ran, run } from './proc'
import { quantile, round } from './stats'
import { IMAGE, SUBMIT_FLAGS } from './workload'

const ROOT = resolve(import.meta.dir, '..')
const BUILT = join(ROOT, 'dist', 'gridx')
const RESULTS = join(import.meta.dir, 'packages-results.json')
const log = (line: string) => console.log(line)

const raw = process.env['BENCH_PKG_ROUNDS']
const ROUNDS = raw ? Number(raw) : 7
if (!Number.isInteger(ROUNDS) || ROUNDS < 1)
  throw new Error(`BENCH_PKG_ROUNDS=${raw}: expected a whole number >= 1`)

/** A script whose PEP 723 block needs `deps`. */
function script(dir: string, name: string, deps: string[]): string {
  const path = join(dir, name)
  const block = `# /// script\n# dependencies = ${JSON.stringify(deps)}\n# ///\n`
  writeFileSync(path, `${deps.length ? block : ''}print("ok")\n`)
  return path
}

const median = (v: number[]) => quantile(v, 0.5)

async function measure(stops: (() => unknown)[]): Promise<number> {
  if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run 'make build' first`)
  const tmp = mkdtempSync(join(tmpdir(), 'gridx-bench-pkg-'))
  stops.push(() => rmSync(tmp, { recursive: true, force: true }))
  const bin = join(tmp, 'gridx')
  copyFileSync(BUILT, bin)
  const index = await startPackageIndex('bench-pkg')
  stops.push(() => index.stop())
  const track = (p: Background) => stops.push(() => p.stop())
  const grid = await BenchGrid.start(bin, tmp, track)
  await grid.register()
  await grid.fund(40 * (ROUNDS + 2) + 100)
  // The worker's environments (Docker volumes) go once it has stopped.
  stops.push(async () => {
    const vols = await run([
      'docker',
      'volume',
      'ls',
      '-q',
      '--filter',
      `label=gridx.worker=${grid.workerId ?? 'none'}`,
    ])
    for (const v of vols.stdout.split('\n').filter(Boolean)) await run(['docker', 'volume', 'rm', '-f', v])
  })
  await grid.startWorker('bench-pkg-worker', 1, track, [
    '--package-index',
    index.url,
    '--install-network',
    index.network,
  ])
  log(`packages: ${ROUNDS} rounds, worker ${grid.workerId}, index ${index.url} on ${index.network}`)

  // A job's container is removed after its result: wait, so one measurement does not bleed into the next.
  const settle = async () => {
    for (let i = 0; i < 300; i++) {
      const ps = await run(['docker', 'ps', '-aq', '--filter', `label=gridx.worker=${grid.workerId}`])
      if (!ps.stdout.trim()) return
      await Bun.sleep(100)
    }
  }
  const submit = async (path: string, expect: RegExp | null): Promise<Ran> => {
    await settle()
    const r = await grid.gridx(['submit', ...SUBMIT_FLAGS, path], { timeoutMs: 180_000 })
    if (r.code !== 0 || r.stdout !== 'ok\n' || (expect && !expect.test(r.stderr)))
      throw new Error(`gridx submit ${path} exited ${r.code}, expected ${expect}:\n${r.stderr}${r.stdout}`)
    return r
  }
  const host = new URL(index.url).host
  // The worker's installer, by hand: same image, user, index and network; a fresh container each time.
  const pipByHand = async (): Promise<Ran> => {
    const r = await run(
      [
        'docker',
        'run',
        '--rm',
        '--network',
        index.network,
        '--user',
        '65534:65534',
        '--read-only',
        '--tmpfs',
        '/tmp',
        '-e',
        'HOME=/tmp',
        IMAGE,
        'python3',
        '-m',
        'pip',
        'install',
        '--target',
        '/tmp/env',
        '--no-cache-dir',
        '--disable-pip-version-check',
        '--only-binary',
        ':all:',
        '--index-url',
        index.url,
        '--trusted-host',
        host,
        'gridx-alpha',
        'gridx-beta>=2',
      ],
      { timeoutMs: 180_000 },
    )
    if (r.code !== 0 || !/Successfully installed gridx-alpha-1\.0\.0 gridx-beta-2\.1\.0/.test(r.stdout))
      throw new Error(`pip install in docker run exited ${r.code}:\n${r.stderr}${r.stdout}`)
    return r
  }

  const plain = script(tmp, 'plain.py', [])
  const cached = script(tmp, 'cached.py', ['gridx-alpha', 'gridx-beta>=2'])
  // Warm-up: the image's Python probed, the cached environment made, pip's first run done.
  await submit(plain, null)
  await submit(cached, /installing 2 packages/)
  await pipByHand()

  const t = { plain: [] as number[], first: [] as number[], cached: [] as number[], pip: [] as number[] }
  const downloadsBefore = index.downloads()
  let firstDownloads = 0
  for (let i = 0; i < ROUNDS; i++) {
    // The same two wheels, but a requirement list no environment has yet: a real install each round.
    const first = script(tmp, `first-${i}.py`, [`gridx-alpha!=0.0.${i}`, 'gridx-beta>=2'])
    t.plain.push((await submit(plain, null)).ms)
    const d = index.downloads()
    t.first.push(
      (await submit(first, /installing 2 packages on bench-pkg-worker \(cached environment not found\)/)).ms,
    )
    firstDownloads += index.downloads() - d
    t.cached.push((await submit(cached, /using cached environment [0-9a-f]{12}/)).ms)
    t.pip.push((await pipByHand()).ms)
    log(
      `  round ${i + 1}: no-deps ${Math.round(t.plain.at(-1)!)} ms, first run ${Math.round(t.first.at(-1)!)} ms, cached ${Math.round(t.cached.at(-1)!)} ms, pip in docker run ${Math.round(t.pip.at(-1)!)} ms`,
    )
  }
  // Each first run fetched the 2 wheels, each pip by hand too; the cached runs nothing.
  const cachedDownloads = index.downloads() - downloadsBefore - firstDownloads - 2 * ROUNDS
  const m = { plain: median(t.plain), first: median(t.first), cached: median(t.cached), pip: median(t.pip) }
  const overhead = m.first - m.plain
  const results = {
    rounds: ROUNDS,
    image: IMAGE,
    mediansMs: {
      noDeps: round(m.plain),
      firstRun: round(m.first),
      cached: round(m.cached),
      pipDockerRun: round(m.pip),
    },
    installOverheadMs: round(overhead),
    installOverheadVsPipDockerRun: round(overhead / m.pip, 2),
    cachedVsNoDeps: round(m.cached / m.plain, 2),
    wheelDownloads: { firstRuns: firstDownloads, cachedRuns: cachedDownloads },
    samplesMs: t,
  }
  log(`\npackages (medians of ${ROUNDS}):`)
  log(
    `  no-deps job ${Math.round(m.plain)} ms; first run with 2 packages ${Math.round(m.first)} ms; cached ${Math.round(m.cached)} ms`,
  )
  log(`  pip install of the same 2 wheels in a plain docker run: ${Math.round(m.pip)} ms`)
  log(
    `  first-run install overhead (first run - no-deps) / pip in docker run: ${results.installOverheadVsPipDockerRun}`,
  )
  log(`  cached run / no-deps job: ${results.cachedVsNoDeps}`)
  log(`  wheel downloads: ${firstDownloads} by the first runs, ${cachedDownloads} by the cached runs`)
  writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`)
  log(`results written to ${RESULTS}`)
  return cachedDownloads === 0 && firstDownloads === 2 * ROUNDS ? 0 : 1
}

const stops: (() => unknown)[] = []
let code = 1
try {
  code = await measure(stops)
} catch (err) {
  console.error(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
} finally {
  for (const stop of stops.reverse()) {
    try {
      await stop()
    } catch (err) {
      console.error(`bench: cleanup failed: ${String(err)}`)
    }
  }
}
process.exit(code)
