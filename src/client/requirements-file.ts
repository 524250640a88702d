import { GridError } from '../errors'
import { parseRequirement } from '../protocol/requirements'
import { bunToml, type TomlParse } from './pep723'

/**
 * The requirement files a submission may bring: pip's `requirements.txt` (names and versions
 * only) and `pyproject.toml`'s `[project]` table. Each line keeps where it came from, so a
 * refusal names the file and line to fix.
 */

/** One requirement and where it was written. */
export interface SourcedRequirement {
  text: string
  file: string
  line: number
}

/** Most bytes of a requirements file read: far past any real one, short of a mistake. */
export const MAX_REQUIREMENTS_FILE_BYTES = 256 * 1024

/**
 * Reads a requirements.txt as pip does (a `\` at a line's end joins the next line; `#` at a
 * line's start or after a space starts a comment; blank lines are skipped) and refuses pip
 * options (`-r`, `-i`, `--extra-index-url`, `-f`, `-e`, `--hash`, …) naming the line.
 */
export function parseRequirementsTxt(text: string, file: string): SourcedRequirement[] {
  if (text.length > MAX_REQUIREMENTS_FILE_BYTES) {
    throw new GridError(
      'bad_requirement',
      `${file} is larger than ${MAX_REQUIREMENTS_FILE_BYTES / 1024} KiB: a requirements file lists package names and versions`,
    )
  }
  const out: SourcedRequirement[] = []
  const raw = text.replace(/\r\n?/g, '\n').split('\n')
  for (let i = 0; i < raw.length; i++) {
    const line = i + 1
    let joined = raw[i]!
    // pip joins continued lines first, except a comment's: a comment ends at its line.
    while (joined.endsWith('\\') && !/(^|\s)#/.test(joined) && i + 1 < raw.length) {
      joined = joined.slice(0, -1) + raw[++i]!
    }
    const req = joined.replace(/(^|\s)#.*$/, '').trim()
    if (req.length === 0) continue
    if (req.startsWith('-') || /\s--?[a-z]/i.test(req)) {
      throw new GridError(
        'bad_requirement',
        `${file} line ${line}: '${req.slice(0, 80)}': pip options (-r, -c, -i, --extra-index-url, -f, -e, --hash, ...) are not allowed in a job's requirements: the worker's owner chooses the package index. List only package names and versions, e.g. 'numpy>=1.26'`,
      )
    }
    out.push({ text: req, file, line })
  }
  return out
}

/** What a pyproject.toml declares for a job: `[project] dependencies` and `requires-python`. */
export interface ProjectDeps {
  dependencies: SourcedRequirement[]
  requiresPython: string | null
}

/** Reads `[project] dependencies` and `requires-python` from a pyproject.toml; empty when it has none. */
export function parsePyproject(text: string, file: string, parse: TomlParse = bunToml): ProjectDeps {
  const bad = (why: string) => new GridError('bad_requirement', `${file}: ${why}`)
  if (text.length > MAX_REQUIREMENTS_FILE_BYTES) {
    throw bad(`it is larger than ${MAX_REQUIREMENTS_FILE_BYTES / 1024} KiB`)
  }
  let data: unknown
  try {
    data = parse(text)
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/^TOML Parse error: /, '') : String(err)
    throw bad(`not valid TOML: ${why}`)
  }
  const project = (data as Record<string, unknown>)['project']
  if (project === undefined) return { dependencies: [], requiresPython: null }
  if (typeof project !== 'object' || project === null || Array.isArray(project))
    throw bad("'project' must be a table ([project])")
  const p = project as Record<string, unknown>
  const dynamic = Array.isArray(p['dynamic']) && p['dynamic'].includes('dependencies')
  if (dynamic) {
    throw bad(
      "[project] dependencies are dynamic (computed by the build backend), which a job's requirements cannot be: list them in a requirements.txt, or as [project] dependencies",
    )
  }
  const deps = p['dependencies'] ?? []
  if (!Array.isArray(deps) || !deps.every((d) => typeof d === 'string'))
    throw bad('[project] dependencies must be a list of strings, e.g. dependencies = ["requests<3"]')
  const rp = p['requires-python'] ?? null
  if (rp !== null && typeof rp !== 'string')
    throw bad('[project] requires-python must be a string, e.g. requires-python = ">=3.10"')
  const lines = text.split(/\r\n?|\n/)
  const lineOf = (d: string) => {
    const i = lines.findIndex((l) => l.includes(`"${d}"`) || l.includes(`'${d}'`))
    return i < 0 ? 1 : i + 1
  }
  return { dependencies: deps.map((d) => ({ text: d, file, line: lineOf(d) })), requiresPython: rp }
}

/** Checks each requirement where it was written: the first bad one is an error naming its file and line. */
export function checkSourced(reqs: readonly SourcedRequirement[]): void {
  for (const r of reqs) {
    const parsed = parseRequirement(r.text)
    if (typeof parsed === 'string')
      throw new GridError('bad_requirement', `${r.file} line ${r.line}: ${parsed}`)
  }
}
