/**
 * Python requirements a job declares (PEP 508 lines without direct references). Checked by the
 * client before it submits, by the coordinator when it accepts, and by the worker before it
 * installs: a requirement may name only a package from the worker owner's index, so a job can
 * never send the worker's installer to an address of its choosing.
 */

/** Most requirements one job may declare. */
export const MAX_REQUIREMENTS = 64
/** Longest requirement line, in characters. */
export const MAX_REQUIREMENT_CHARS = 200

/** A distribution name (PEP 508): letters, digits, and `.`, `_`, `-` inside. */
const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/
/** One version clause such as `>=1.26`, `~=2.0`, `==1.*`, `!=3.0.1`. */
const CLAUSE = /^(~=|===|==|!=|<=|>=|<|>)\s*([A-Za-z0-9.*+!_-]+)$/
/** The names a marker may test (PEP 508's environment markers). */
const MARKER_VARIABLES = new Set([
  'python_version',
  'python_full_version',
  'os_name',
  'sys_platform',
  'platform_release',
  'platform_system',
  'platform_version',
  'platform_machine',
  'platform_python_implementation',
  'implementation_name',
  'implementation_version',
  'extra',
])
const MARKER_TOKEN = /\s*(\(|\)|"[^"\\]*"|'[^'\\]*'|===|==|!=|<=|>=|~=|<|>|[A-Za-z_][A-Za-z0-9_.]*)/y

/** What one requirement line says, once checked. */
export interface Requirement {
  /** The normalised name (PEP 503: lower case, runs of `-_.` as one `-`). */
  name: string
  extras: string[]
  /** Version clauses, each without spaces, sorted. */
  specifiers: string[]
  /** The environment marker, whitespace collapsed; empty when none. */
  marker: string
}

/** PEP 503's normalised form of a distribution name. */
export function normaliseName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-')
}

function checkMarker(marker: string): string | undefined {
  const tokens: string[] = []
  MARKER_TOKEN.lastIndex = 0
  while (MARKER_TOKEN.lastIndex < marker.length) {
    const start = MARKER_TOKEN.lastIndex
    const m = MARKER_TOKEN.exec(marker)
    if (!m || m.index !== start) {
      if (/^\s*$/.test(marker.slice(start))) break
      return `the marker '${marker}' is not an environment marker (PEP 508)`
    }
    tokens.push(m[1] ?? '')
  }
  for (const t of tokens) {
    if (/^[A-Za-z_]/.test(t) && !['and', 'or', 'in', 'not'].includes(t) && !MARKER_VARIABLES.has(t))
      return `the marker may test only ${[...MARKER_VARIABLES].join(', ')}; '${t}' is none of them`
  }
  if (tokens.length === 0) return 'the marker after ";" is empty'
  return undefined
}

/** Why a requirement line cannot be used, or its parts when it can. */
export function parseRequirement(line: string): Requirement | string {
  const text = line.trim()
  if (text.length === 0) return 'a requirement is empty'
  if (text.length > MAX_REQUIREMENT_CHARS)
    return `a requirement is longer than ${MAX_REQUIREMENT_CHARS} characters`
  if (/[\u0000-\u001f\u007f]/.test(text)) return 'a requirement contains control characters'
  if (text.startsWith('-'))
    return `'${text}': pip options (-i, --extra-index-url, -f, -e, -r, ...) are not allowed; the worker's owner chooses the package index`
  if (/^(\.|\/|~|file:)/i.test(text) || /^[A-Za-z]:[\\/]/.test(text))
    return `'${text}': local paths cannot be installed; publish the package to an index, or send its code as an input file`
  const [head = '', ...rest] = text.split(';')
  const marker = rest.join(';').trim().replace(/\s+/g, ' ')
  if (head.includes('@') || /:\/\//.test(head))
    return `'${text}': direct URL requirements (name @ URL) are not allowed; name a package and a version, e.g. 'requests>=2.31'`
  const m = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?\s*(\(?)([^()]*)(\)?)\s*$/.exec(head)
  if (!m || !NAME.test(m[1] ?? '') || (m[3] === '(') !== (m[5] === ')'))
    return `'${text}' is not a requirement: write a package name, optionally with [extras] and versions, e.g. 'numpy>=1.26'`
  const extras = (m[2] ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e.length > 0)
  const badExtra = extras.find((e) => !NAME.test(e))
  if (badExtra !== undefined) return `'${text}': '${badExtra}' is not an extra's name`
  const specifiers: string[] = []
  const spec = (m[4] ?? '').trim()
  if (spec.length > 0) {
    for (const clause of spec.split(',')) {
      const c = CLAUSE.exec(clause.trim())
      if (!c) return `'${text}': '${clause.trim()}' is not a version clause such as '>=1.2' or '==2.*'`
      specifiers.push(`${c[1]}${c[2]}`)
    }
  }
  if (rest.length > 0) {
    const why = checkMarker(marker)
    if (why) return `'${text}': ${why}`
  }
  return {
    name: normaliseName(m[1] ?? ''),
    extras: extras.map(normaliseName).sort(),
    specifiers: specifiers.sort(),
    marker,
  }
}

/** The canonical text of a checked requirement: the same need is always written the same way. */
export function formatRequirement(r: Requirement): string {
  const extras = r.extras.length ? `[${r.extras.join(',')}]` : ''
  return `${r.name}${extras}${r.specifiers.join(',')}${r.marker ? `; ${r.marker}` : ''}`
}

/**
 * Checks a job's requirements and returns them canonical, sorted and without duplicates; throws
 * the first problem as a message (callers wrap it in their own error).
 */
export function normaliseRequirements(lines: readonly string[]): string[] {
  if (lines.length > MAX_REQUIREMENTS)
    throw new Error(
      `a job may declare at most ${MAX_REQUIREMENTS} requirements (this one has ${lines.length})`,
    )
  const out = new Set<string>()
  for (const line of lines) {
    const r = parseRequirement(line)
    if (typeof r === 'string') throw new Error(r)
    out.add(formatRequirement(r))
  }
  return [...out].sort()
}

/** What a `requires-python` value must look like, said when it does not. */
export const REQUIRES_PYTHON_HINT =
  "requires-python must be version clauses such as '>=3.10' or '>=3.10,<3.13'"

/** True for one version clause of a `requires-python` value (`>=3.10`). */
export function isVersionClause(clause: string): boolean {
  return CLAUSE.test(clause.trim())
}

/** True for a `requires-python` value (PEP 440 specifiers, e.g. `>=3.10`): what `RequiresPython` accepts. */
export function isRequiresPython(s: string): boolean {
  return s.length <= MAX_REQUIREMENT_CHARS && s.split(',').every(isVersionClause)
}
