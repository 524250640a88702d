import { describe, expect, test } from 'bun:test'
import { JobSpec } from '../../src/protocol/worker'
import { MAX_REQUIREMENTS, normaliseRequirements, parseRequirement } from '../../src/protocol/requirements'
import { Requirements, RequiresPython } from '../../src/protocol/requirements-schema'

describe('requirement lines', () => {
  test('names, extras, versions and markers are accepted and written one canonical way', () => {
    expect(
      normaliseRequirements(['Requests < 3', 'numpy>=1.26', 'My_Pkg.Name[Extra_One, b] (>=1,<2)']),
    ).toEqual(['my-pkg-name[b,extra-one]<2,>=1', 'numpy>=1.26', 'requests<3'])
    expect(normaliseRequirements(['numpy', 'NumPy', 'numpy '])).toEqual(['numpy'])
    expect(normaliseRequirements(['tomli; python_version < "3.11"'])).toEqual([
      'tomli; python_version < "3.11"',
    ])
  })

  test('direct URLs, paths and pip options are refused with what to do instead', () => {
    const refused = (line: string) => {
      const r = parseRequirement(line)
      expect(typeof r).toBe('string')
      return r as string
    }
    expect(refused('pkg @ https://evil.example/pkg.whl')).toContain('direct URL')
    expect(refused('https://evil.example/pkg.whl')).toContain('direct URL')
    expect(refused('--extra-index-url http://10.0.0.1/simple')).toContain('pip options')
    expect(refused('-e .')).toContain('pip options')
    expect(refused('-i http://x/simple')).toContain('pip options')
    expect(refused('./local/pkg')).toContain('local paths')
    expect(refused('/abs/pkg.whl')).toContain('local paths')
    expect(refused('file:///x')).toContain('local paths')
    expect(refused('numpy 1.26')).toContain('version clause')
    expect(refused('numpy; os.system("x")')).toContain('marker')
    expect(refused('numpy; __import__ == "x"')).toContain('marker')
    expect(refused('x'.repeat(300))).toContain('longer than')
    expect(refused('numpy\u0000')).toContain('control')
  })

  test('count and wire checks', () => {
    const many = Array.from({ length: MAX_REQUIREMENTS + 1 }, (_, i) => `p${i}`)
    expect(() => normaliseRequirements(many)).toThrow('at most')
    expect(Requirements.safeParse(['numpy', 'pkg @ https://x/y']).success).toBe(false)
    expect(Requirements.safeParse(['numpy>=1']).success).toBe(true)
    expect(RequiresPython.safeParse('>=3.10,<3.13').success).toBe(true)
    expect(RequiresPython.safeParse('python3').success).toBe(false)
  })

  test('a job spec from an older coordinator needs no packages', () => {
    const spec = JobSpec.parse({
      jobId: 'j',
      attempt: 1,
      image: 'python:3.12-slim',
      command: [],
      script: null,
      args: [],
      timeoutMs: 1000,
      cpus: 1,
      memoryBytes: 1 << 26,
    })
    expect(spec.requirements).toEqual([])
    expect(spec.requiresPython).toBeNull()
  })
})
