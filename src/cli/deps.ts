import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { GridError } from '../errors'
import { scriptMetadata } from '../client/pep723'
import {
  checkSourced,
  MAX_REQUIREMENTS_FILE_BYTES,
  parsePyproject,
  parseRequirementsTxt,
  type SourcedRequirement,
} from '../client/requirements-file'
import { isRequiresPython, normaliseRequirements } from '../protocol/requirements'

/**
 * Which Python packages a submission needs. One source is used, the most specific one there is
 * (no merging, so two files can never pin one package two ways):
 *   1. `--no-deps`: none, and no requires-python;
 *   2. `--requirements FILE`;
 *   3. the script's (or `--entry` script's) PEP 723 `# /// script` block;
 *   4. for a directory: its top-level `requirements.txt`, else `pyproject.toml`'s `[project] dependencies`.
 * `requires-python` comes from the script's block, else (a directory) from pyproject.toml.
 */

/** What `gridx submit` sends about packages, and where it found them. */
export interface JobDeps {
  requirements: string[]
  requiresPython: string | null
  /** Where the requirements came from, for the line said before submitting; null when none. */
  source: string | null
  /** Sources found but not used (a lower precedence), so the user is told. */
  ignored: string[]
}

/** The flags that decide a submission's packages. */
export interface DepsFlags {
  script?: string | undefined
  entry?: string | undefined
  requirements?: string | undefined
  noDeps?: boolean | undefined
}

const NONE: JobDeps = { requirements: [], requiresPython: null, source: null, ignored: [] }

function readText(path: string, what: string): string {
  const st = statSync(path, { throwIfNoEntry: false })
  if (!st?.isFile()) throw new GridError('no_requirements_file', `${what} '${path}' is not a file`)
  if (st.size > MAX_REQUIREMENTS_FILE_BYTES)
    throw new GridError('bad_requirement', `${what} '${path}' is larger than 256 KiB`)
  return readFileSync(path, 'utf8')
}

/** Reads, checks and normalises a submission's requirements, before anything is uploaded. */
export function jobDeps(flags: DepsFlags): JobDeps {
  if (flags.noDeps) return NONE
  const target = flags.script
  const isDir = target !== undefined && statSync(target, { throwIfNoEntry: false })?.isDirectory() === true
  const scriptPath = target === undefined ? undefined : isDir ? join(target, flags.entry ?? '') : target
  const scriptName = isDir ? (flags.entry ?? '') : (target ?? '')
  const meta =
    scriptPath && statSync(scriptPath, { throwIfNoEntry: false })?.isFile()
      ? scriptMetadata(readFileSync(scriptPath, 'utf8'), scriptName)
      : undefined
  const found: { source: string; reqs: SourcedRequirement[] }[] = []
  if (flags.requirements !== undefined) {
    if (!existsSync(flags.requirements))
      throw new GridError(
        'no_requirements_file',
        `--requirements '${flags.requirements}' not found (looked in ${process.cwd()})`,
      )
    const text = readText(flags.requirements, '--requirements')
    found.push({ source: flags.requirements, reqs: parseRequirementsTxt(text, flags.requirements) })
  }
  if (meta && meta.dependencies.length > 0) {
    const reqs = meta.dependencies.map((d) => ({ text: d.text, file: scriptName, line: d.line }))
    found.push({ source: `${scriptName}'s '# /// script' block`, reqs })
  }
  let projectPython: string | null = null
  if (isDir) {
    const txt = join(target, 'requirements.txt')
    if (existsSync(txt)) {
      const name = join(target, 'requirements.txt')
      found.push({ source: name, reqs: parseRequirementsTxt(readText(txt, 'requirements file'), name) })
    }
    const toml = join(target, 'pyproject.toml')
    if (existsSync(toml)) {
      const project = parsePyproject(readText(toml, 'project file'), toml)
      projectPython = project.requiresPython
      if (project.dependencies.length > 0) found.push({ source: toml, reqs: project.dependencies })
    }
  }
  const requiresPython = meta?.requiresPython ?? projectPython
  if (requiresPython !== null && !isRequiresPython(requiresPython)) {
    const where = meta?.requiresPython
      ? `${scriptName} line ${meta.openLine}`
      : join(target ?? '', 'pyproject.toml')
    throw new GridError(
      'bad_requirement',
      `${where}: requires-python '${requiresPython.slice(0, 80)}' must be version clauses such as '>=3.10' or '>=3.10,<3.13'`,
    )
  }
  const chosen = found[0]
  if (!chosen) return { ...NONE, requiresPython }
  checkSourced(chosen.reqs)
  let requirements: string[]
  try {
    requirements = normaliseRequirements(chosen.reqs.map((r) => r.text))
  } catch (err) {
    throw new GridError('bad_requirement', `${chosen.source}: ${(err as Error).message}`)
  }
  return {
    requirements,
    requiresPython,
    source: chosen.source,
    ignored: found.slice(1).map((f) => f.source),
  }
}

/** The line said before submitting: how many packages, from where, and what was passed over. */
export function depsLine(deps: JobDeps): string | undefined {
  if (deps.source === null) return undefined
  const n = deps.requirements.length
  const list = deps.requirements.join(', ')
  const shown = list.length > 200 ? `${list.slice(0, 200)}...` : list
  const ignored = deps.ignored.length
    ? `; not using ${deps.ignored.join(', ')} (see 'gridx submit --help')`
    : ''
  return `the job needs ${n} package${n === 1 ? '' : 's'} (from ${deps.source}): ${shown}${ignored}`
}
