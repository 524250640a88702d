import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { JobView } from '../../src/protocol/api'
import { type PackageIndex, startPackageIndex } from '../support/package-index'
import { type Grid, gridx, PY_IMAGE, type Proc, startGrid, tempDir } from './harness'

// Both halves of packages together, as a user meets them: `gridx submit` (the compiled binary)
// reads what a script needs, the coordinator places it, and a real `gridx work` installs it from
// a PEP 503 index on an internal Docker network (wheels built by test/support/package-index.ts),
// then runs the job with no network. One coordinator and one installing worker serve every test,
// in order: the cache tests build on the environments earlier tests made.

let index: PackageIndex
let grid: Grid
let alice: Record<string, string>
let bob: Record<string, string>
let noPkg: Proc
let pkg: Proc
let work: string
/** Every job that needed packages: none may ever reach the --no-packages worker. */
const packageJobs: string[] = []

beforeAll(async () => {
  index = await startPackageIndex('pkg-e2e')
  grid = await startGrid()
  alice = await grid.user('alice')
  bob = await grid.user('bob')
  noPkg = await grid.worker(alice, 'w-nopkg', ['--no-packages'])
  work = tempDir('pkg-e2e')
}, 60_000)
afterAll(async () => {
  await grid?.close()
  // The worker's environments are Docker volumes named after its id; remove ours only.
  const id = workerId()
  if (id) {
    const vols = (await Bun.$`docker volume ls -q --filter label=gridx.worker=${id}`.text()).split('\n')
    for (const v of vols.filter(Boolean)) await Bun.$`docker volume rm -f ${v}`.quiet().nothrow()
  }
  index?.stop()
})

/** The installing worker's id, from the coordinator's log line when it connected. */
function workerId(): string | undefined {
  const log = (grid?.serve.stderr() ?? '') + (grid?.serve.stdout() ?? '')
  return /worker w-pkg \(([^)]+)\) of alice ready/.exec(log)?.[1]
}

const submit = (args: string[], env = bob) =>
  gridx(['submit', '--image', PY_IMAGE, ...args], env, { cwd: work, timeoutMs: 180_000 })
const status = async (id: string) =>
  JobView.parse(JSON.parse((await gridx(['status', id, '--json'], bob)).stdout))
const jobCount = async () =>
  (JSON.parse((await gridx(['jobs', '--all', '--json'], bob)).stdout) as unknown[]).length
const credits = async () =>
  JSON.parse((await gridx(['credits', '--json'], bob)).stdout) as { balanceMc: number; escrowMc: number }
const idOf = (stderr: string) => /job ([a-z2-9]{12})/.exec(stderr)?.[1] ?? ''

/** A script with a PEP 723 block declaring `deps`. */
function script(name: string, deps: string[], body: string): string {
  const block = ['# /// script', `# dependencies = ${JSON.stringify(deps)}`, '# ///']
  writeFileSync(join(work, name), [...block, body, ''].join('\n'))
  return name
}

const BOTH = String.raw`
import os, gridx_alpha, gridx_beta
print('alpha', gridx_alpha.__version__, 'beta', gridx_beta.__version__)
print(gridx_beta.shout())
print('net', ','.join(sorted(os.listdir('/sys/class/net'))))
print('dev', ','.join(sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:])))
for what, act in [('file', lambda: open('/gridx/env/site/gridx_alpha/__init__.py', 'a')),
                  ('dir', lambda: os.mkdir('/gridx/env/site/planted'))]:
    try:
        act()
        print(what, 'WRITABLE')
    except OSError as e:
        print(what, 'read-only errno', e.errno)
`

describe('jobs with packages, from gridx submit to a real worker', () => {
  test('a job with packages waits for a worker that installs them: never offered to --no-packages, moved off one whose index is unreachable, and gridx status says why it waits', async () => {
    script('wait.py', ['gridx-alpha==1.0.0'], 'import gridx_alpha; print("alpha", gridx_alpha.__version__)')
    const d = await submit(['wait.py', '--detach'])
    expect(d.code).toBe(0)
    const id = d.stdout.trim()
    packageJobs.push(id)
    // Followed from the start, as a submitter who did not detach would see it.
    const follow = gridx(['logs', '-f', id], bob, { timeoutMs: 150_000 })
    await Bun.sleep(1500) // a few scheduler passes with w-nopkg connected and idle
    const s = await gridx(['status', id], bob)
    expect(s.stdout).toContain(
      "waiting  it needs Python packages and no connected worker installs them (their owners run 'gridx work --no-packages')",
    )
    expect((await status(id)).state).toBe('queued')
    // A worker that installs packages but cannot reach its index: the node's fault, so the job
    // is not billed, leaves it, and is never offered to it again.
    const bad = await grid.worker(alice, 'w-badindex', [
      '--package-index',
      index.unreachableUrl,
      '--install-network',
      index.network,
    ])
    let waiting = ''
    for (let i = 0; i < 600 && !waiting.includes('failed to install on w-badindex'); i++) {
      await Bun.sleep(200)
      waiting = (await status(id)).waiting ?? ''
    }
    // One line, the reason once, and no advice to change requirements that are not at fault.
    expect(waiting).toMatch(
      /^its packages failed to install on w-badindex \(could not install the job's packages \(the package index is unreachable from this worker; try again later or on another worker\): ERROR: [^\n]+\), and no other connected worker that installs packages can take it: it waits for one \(attempt 1 of 3\), or cancel it$/,
    )
    expect(await status(id)).toMatchObject({ state: 'queued', costMc: null })
    await Bun.sleep(1000) // still not offered to it again
    expect(await status(id)).toMatchObject({ state: 'queued', attempt: 1 })
    await bad.stop()
    // An installing worker joins: the job that waited runs there.
    pkg = await grid.worker(alice, 'w-pkg', [
      '--package-index',
      index.url,
      '--install-network',
      index.network,
      '--env-cache',
      '1m',
    ])
    expect(pkg.stderr()).toContain(
      `packages from ${index.url} over network ${index.network}, wheels only, cache 1 MiB`,
    )
    const logs = await follow
    expect(logs.stdout).toBe('alpha 1.0.0\n')
    expect(logs.stderr).toContain('gridx: installing 1 package on w-badindex (cached environment not found)')
    expect(logs.stderr).toContain('Connection refused')
    // The submitter is told why it moved on, not that its worker was lost.
    expect(logs.stderr).toMatch(
      /gridx: job [a-z2-9]{12} went back to the queue \(its Python packages could not be installed on worker w-badindex \(could not install the job's packages \(the package index is unreachable from this worker[^\n]*; not billed, and not offered to that worker again\); it will run again\n/,
    )
    expect(logs.stderr).toContain('gridx: installing 1 package on w-pkg (cached environment not found)')
    expect(await status(id)).toMatchObject({ state: 'succeeded', worker: 'w-pkg', attempt: 2 })
  }, 150_000)

  test('a PEP 723 script imports both packages, with only lo and a read-only environment', async () => {
    const before = index.downloads()
    const r = await submit([script('both.py', ['gridx-alpha', 'gridx-beta>=2'], BOTH)])
    packageJobs.push(idOf(r.stderr))
    expect(r.stderr).toContain(
      "gridx: the job needs 2 packages (from both.py's '# /// script' block): gridx-alpha, gridx-beta>=2",
    )
    expect(r.stderr).toContain('gridx: installing 2 packages on w-pkg (cached environment not found)')
    expect(r.stderr).toMatch(/Successfully installed gridx-alpha-1\.0\.0 gridx-beta-2\.1\.0/)
    expect(r.stdout).toBe(
      [
        'alpha 1.0.0 beta 2.1.0',
        'HELLO FROM A DATA FILE',
        'net lo',
        'dev lo',
        'file read-only errno 30',
        'dir read-only errno 30',
        '',
      ].join('\n'),
    )
    expect(r.code).toBe(0)
    expect(index.downloads() - before).toBe(2)
  }, 150_000)

  test('the same packages again use the cached environment: the index sees no download', async () => {
    const before = index.downloads()
    const r = await submit([script('again.py', ['GRIDX_Beta >= 2', 'gridx.alpha'], BOTH)])
    packageJobs.push(idOf(r.stderr))
    expect(r.stderr).toMatch(/gridx: using cached environment [0-9a-f]{12}\n/)
    expect(r.stderr).not.toContain('installing')
    // The earlier job could not change it.
    expect(r.stdout).toStartWith('alpha 1.0.0 beta 2.1.0\nHELLO FROM A DATA FILE\n')
    expect(r.code).toBe(0)
    expect(index.downloads()).toBe(before)
  }, 120_000)

  test('--requirements FILE is installed for a script without a block', async () => {
    writeFileSync(join(work, 'reqs.txt'), '# pinned\ngridx-beta==2.1.0\n')
    writeFileSync(join(work, 'plain.py'), 'import gridx_beta\nprint(gridx_beta.shout())\n')
    const r = await submit(['plain.py', '--requirements', 'reqs.txt'])
    packageJobs.push(idOf(r.stderr))
    expect(r.stderr).toContain('gridx: installing 1 package on w-pkg (cached environment not found)')
    expect(r.stdout).toBe('HELLO FROM A DATA FILE\n')
    expect(r.code).toBe(0)
  }, 120_000)

  test("a directory's requirements.txt is installed for its entry script", async () => {
    mkdirSync(join(work, 'proj'), { recursive: true })
    writeFileSync(join(work, 'proj/requirements.txt'), 'gridx-alpha>=1\n')
    writeFileSync(join(work, 'proj/notes.txt'), 'read by main.py\n')
    writeFileSync(
      join(work, 'proj/main.py'),
      'import gridx_alpha\nprint(gridx_alpha.greeting(), "|", open("notes.txt").read().strip())\n',
    )
    const r = await submit(['proj', '--entry', 'main.py'])
    packageJobs.push(idOf(r.stderr))
    expect(r.stderr).toContain('gridx: installing 1 package on w-pkg (cached environment not found)')
    expect(r.stdout).toBe('hello from a data file | read by main.py\n')
    expect(r.code).toBe(0)
  }, 120_000)

  test("a package that does not exist ends the job with the installer's reason, exit 125, nothing billed", async () => {
    const before = await credits()
    const r = await submit([script('nosuch.py', ['gridx-nosuch==1.0'], 'print("never")')])
    const id = idOf(r.stderr)
    packageJobs.push(id)
    expect(r.code).toBe(125)
    expect(r.stdout).toBe('')
    // The installer's lines once, live; the worker's summary; the ending quotes pip's last ERROR
    // line on one readable line (no escaped newlines, no second copy of the installer's output).
    const lines = r.stderr.split('\n')
    expect(
      lines.filter((l) => l === 'ERROR: No matching distribution found for gridx-nosuch==1.0').length,
    ).toBe(1)
    expect(lines).toContain(
      "gridx: could not install the job's packages (no matching package (name, version, or a wheel for this platform and Python) on the index; change the requirements)",
    )
    expect(lines).toContain(
      `gridx: job ${id} did not start: its Python packages could not be installed on worker w-pkg: could not install the job's packages (no matching package (name, version, or a wheel for this platform and Python) on the index; change the requirements): ERROR: No matching distribution found for gridx-nosuch==1.0. Nothing was billed. Check each requirement's name and version (it must exist on the package index as a binary wheel for the image's Python and platform), or pin another version, or submit with --no-deps and an image that already has them`,
    )
    expect(r.stderr).not.toContain('\\x0a')
    expect(await status(id)).toMatchObject({
      state: 'failed',
      outcome: 'install_failed',
      costMc: 0,
      billedMs: 0,
    })
    expect(await credits()).toMatchObject({ balanceMc: before.balanceMc, escrowMc: 0 })
  }, 120_000)

  test('a requires-python the image does not meet ends the job before any install, naming both', async () => {
    const downloads = index.downloads()
    writeFileSync(
      join(work, 'newpy.py'),
      '# /// script\n# requires-python = ">=3.99"\n# dependencies = ["gridx-alpha"]\n# ///\nprint("never")\n',
    )
    const r = await submit(['newpy.py'])
    const id = idOf(r.stderr)
    packageJobs.push(id)
    expect(r.code).toBe(125)
    expect(r.stderr).toMatch(
      /gridx: job [a-z2-9]{12} did not start: its Python packages could not be installed on worker w-pkg: the script requires Python >=3\.99, and gridx-local\/python:bookworm has Python 3[\d.]+: choose an image with a matching Python \(--image\), or change requires-python\. Nothing was billed\.\n/,
    )
    expect(r.stderr).not.toContain('installing')
    expect(await status(id)).toMatchObject({ requiresPython: '>=3.99', outcome: 'install_failed', costMc: 0 })
    expect(index.downloads()).toBe(downloads)
  }, 60_000)

  test('a direct URL requirement is refused before anything is uploaded or submitted', async () => {
    const jobs = await jobCount()
    const downloads = index.downloads()
    const a = await submit([script('url.py', ['gridx-alpha @ http://10.0.0.1/gridx_alpha.whl'], 'print(1)')])
    expect(a.code).toBe(2)
    expect(a.stderr).toContain('direct URL requirements (name @ URL) are not allowed')
    mkdirSync(join(work, 'urlproj'), { recursive: true })
    writeFileSync(join(work, 'urlproj/main.py'), 'print(1)\n')
    writeFileSync(join(work, 'urlproj/requirements.txt'), 'gridx-alpha @ https://10.0.0.1/a.whl\n')
    const b = await submit(['urlproj', '--entry', 'main.py'])
    expect(b.code).toBe(2)
    expect(b.stderr).toContain(`${join('urlproj', 'requirements.txt')} line 1`)
    expect(b.stderr).toContain('direct URL requirements (name @ URL) are not allowed')
    for (const r of [a, b]) expect(r.stderr).not.toMatch(/uploaded|submitted|job [a-z2-9]{12}/)
    expect(await jobCount()).toBe(jobs)
    expect(index.downloads()).toBe(downloads)
  }, 60_000)

  test('past --env-cache the least recently used environments are removed', async () => {
    const id = workerId()!
    const volumes = async () =>
      (await Bun.$`docker volume ls -q --filter label=gridx.worker=${id}`.text()).split('\n').filter(Boolean)
    expect((await volumes()).length).toBe(4) // alpha==1.0.0, alpha+beta, beta==2.1.0, alpha>=1
    // gridx-gamma carries 600 KB: one environment with it fits in 1 MiB beside the small ones, two do not.
    const g = await submit([
      script('gamma.py', ['gridx-gamma'], 'import gridx_gamma; print(gridx_gamma.__version__)'),
    ])
    packageJobs.push(idOf(g.stderr))
    expect(g.stdout).toBe('0.3.0\n')
    expect((await volumes()).length).toBe(5)
    const ga = await submit([
      script('gamma2.py', ['gridx-gamma', 'gridx-alpha'], 'import gridx_gamma, gridx_alpha; print("both")'),
    ])
    packageJobs.push(idOf(ga.stderr))
    expect(ga.stdout).toBe('both\n')
    // Oldest first until it fits: the four small ones, then the first gamma environment.
    expect((await volumes()).length).toBe(1)
    await pkg.waitFor(/environment [0-9a-f]{12} removed \(.*; the cache is past 1 MiB\)/)
    const again = await submit(['gamma.py'])
    packageJobs.push(idOf(again.stderr))
    expect(again.stderr).toContain('gridx: installing 1 package on w-pkg (cached environment not found)')
    expect(again.stdout).toBe('0.3.0\n')
  }, 180_000)

  test('the --no-packages worker was offered none of those jobs', async () => {
    expect(packageJobs.length).toBe(10)
    for (const id of packageJobs) {
      expect(id).toMatch(/^[a-z2-9]{12}$/)
      expect((await status(id)).worker).toBe('w-pkg')
      expect(noPkg.stderr() + noPkg.stdout()).not.toContain(id)
    }
    // --no-deps ignores the block: the job runs, on either worker, without the package.
    const r = await submit(['plain.py', '--no-deps'])
    expect(r.code).not.toBe(0) // gridx_beta is not in the image
    expect(r.stderr).toContain("No module named 'gridx_beta'")
  }, 60_000)
})
