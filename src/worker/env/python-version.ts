/**
 * `requires-python` against the image's Python: PEP 440 clauses over release numbers (enough for
 * Python versions; pre-release tags are not used by interpreters' `python_version`).
 */

const CLAUSE = /^(~=|===|==|!=|<=|>=|<|>)\s*([0-9][0-9.]*)(\.\*)?$/

function release(v: string): number[] {
  return v.split('.').map((p) => Number.parseInt(p, 10) || 0)
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

/** True when `prefix` is the start of `v` (`==3.11.*`). */
function startsWith(v: number[], prefix: number[]): boolean {
  return prefix.every((p, i) => (v[i] ?? 0) === p)
}

function holds(op: string, v: number[], want: number[], wildcard: boolean): boolean {
  switch (op) {
    case '==':
    case '===':
      return wildcard ? startsWith(v, want) : compare(v, want) === 0
    case '!=':
      return wildcard ? !startsWith(v, want) : compare(v, want) !== 0
    case '>=':
      return compare(v, want) >= 0
    case '<=':
      return compare(v, want) <= 0
    case '>':
      return compare(v, want) > 0
    case '<':
      return compare(v, want) < 0
    case '~=':
      // ~=3.10 means >=3.10 and ==3.*; ~=3.10.2 means >=3.10.2 and ==3.10.*.
      return compare(v, want) >= 0 && startsWith(v, want.slice(0, Math.max(1, want.length - 1)))
    default:
      return false
  }
}

/** True when `python` (e.g. `3.11.2`) satisfies `spec` (e.g. `>=3.10,<3.13`); unreadable clauses never hold. */
export function pythonSatisfies(python: string, spec: string): boolean {
  const v = release(python)
  return spec
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c.length > 0)
    .every((c) => {
      const m = CLAUSE.exec(c)
      return m !== null && holds(m[1] ?? '', v, release(m[2] ?? ''), m[3] !== undefined)
    })
}
