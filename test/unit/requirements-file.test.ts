import { failure } from '../support/failure'
import { afterEach, describe, expect, test } from 'bun:test'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { depsLine, jobDeps } from '../../src/cli/deps'
import { parsePyproject, parseRequirementsTxt } from '../../src/client/requirements-file'
import { tempDir } from '../e2e/harness'

describe('requirements.txt', () => {
  test('comments, blank lines and continued lines, each requirement with its line', () => {
    const text = [
      '# the data stack',
      '',
      'numpy>=1.26  # fast arrays',
      'requests \\',
      '  <3',
      '   ',
      'tomli; python_version < "3.11"',
      'pkg#notacomment',
    ].join('\r\n')
    expect(parseRequirementsTxt(text, 'requirements.txt')).toEqual([
      { text: 'numpy>=1.26', file: 'requirements.txt', line: 3 },
      { text: 'requests   <3', file: 'requirements.txt', line: 4 },
      { text: 'tomli; python_version < "3.11"', file: 'requirements.txt', line: 7 },
      { text: 'pkg#notacomment', file: 'requirements.txt', line: 8 },
    ])
  })

  test('pip options are refused naming the line', () => {
    for (const [line, text] of [
      [2, '-i http://10.0.0.1/simple'],
      [2, '--extra-index-url http://10.0.0.1/simple'],
      [2, '-f ./wheels'],
      [2, '-e .'],
      [2, '-r other.txt'],
      [2, 'numpy==1.26 --hash=sha256:abc'],
    ] as const) {
      const e = failure(() => parseRequirementsTxt(`numpy\n${text}\n`, 'reqs.txt'))
      expect(e.code).toBe('bad_requirement')
      expect(e.message).toStartWith(`reqs.txt line ${line}: `)
      expect(e.message).toContain('pip options')
    }
  })

  test('a file past 256 KiB is refused', () => {
    expect(failure(() => parseRequirementsTxt('a\n'.repeat(200_000), 'r.txt')).message).toContain('256 KiB')
  })
})

describe('pyproject.toml', () => {
  test('[project] dependencies and requires-python, each with its line', () => {
    const text = [
      '[build-system]',
      'requires = ["hatchling"]',
      '[project]',
      'name = "x"',
      'requires-python = ">=3.10"',
      'dependencies = [',
      '  "requests<3",',
      "  'rich',",
      ']',
    ].join('\n')
    expect(parsePyproject(text, 'p/pyproject.toml')).toEqual({
      dependencies: [
        { text: 'requests<3', file: 'p/pyproject.toml', line: 7 },
        { text: 'rich', file: 'p/pyproject.toml', line: 8 },
      ],
      requiresPython: '>=3.10',
    })
    expect(parsePyproject('[tool.black]\nline-length = 100\n', 'pyproject.toml')).toEqual({
      dependencies: [],
      requiresPython: null,
    })
  })

  test('invalid TOML, dynamic or mistyped dependencies are refused', () => {
    expect(failure(() => parsePyproject('[project\n', 'pyproject.toml')).message).toStartWith(
      'pyproject.toml: not valid TOML',
    )
    expect(
      failure(() => parsePyproject('[project]\ndynamic = ["dependencies"]\n', 'pyproject.toml')).message,
    ).toContain('dynamic')
    expect(
      failure(() => parsePyproject('[project]\ndependencies = "numpy"\n', 'pyproject.toml')).message,
    ).toContain('must be a list of strings')
    expect(failure(() => parsePyproject('project = 1\n', 'pyproject.toml')).message).toContain(
      'must be a table',
    )
  })
})

describe('which requirements a submission sends', () => {
  let dir = ''
  afterEach(() => rmSync(dir, { recursive: true, force: true }))
  const write = (path: string, text: string) => {
    mkdirSync(join(dir, path, '..'), { recursive: true })
    writeFileSync(join(dir, path), text)
    return join(dir, path)
  }
  const pep723 = (deps: string, python = '') =>
    `# /// script\n${python ? `# requires-python = "${python}"\n` : ''}# dependencies = [${deps}]\n# ///\nprint(1)\n`

  test("a script's block; --requirements instead of it; --no-deps ignores both", () => {
    dir = tempDir('deps')
    const script = write('job.py', pep723('"Requests<3", "numpy>=1.26"', '>=3.10'))
    const reqs = write('reqs.txt', 'rich\n')
    const fromBlock = jobDeps({ script })
    expect(fromBlock).toMatchObject({
      requirements: ['numpy>=1.26', 'requests<3'],
      requiresPython: '>=3.10',
      ignored: [],
    })
    expect(depsLine(fromBlock)).toBe(
      `the job needs 2 packages (from ${script}'s '# /// script' block): numpy>=1.26, requests<3`,
    )
    const explicit = jobDeps({ script, requirements: reqs })
    expect(explicit).toMatchObject({ requirements: ['rich'], requiresPython: '>=3.10', source: reqs })
    expect(depsLine(explicit)).toContain(`not using ${script}'s '# /// script' block`)
    expect(jobDeps({ script, requirements: reqs, noDeps: true })).toEqual({
      requirements: [],
      requiresPython: null,
      source: null,
      ignored: [],
    })
    expect(jobDeps({ script: write('plain.py', 'print(1)\n') }).requirements).toEqual([])
  })

  test('a directory: the entry script block, then requirements.txt, then pyproject.toml', () => {
    dir = tempDir('deps')
    const project = join(dir, 'proj')
    write('proj/main.py', 'print(1)\n')
    write('proj/pyproject.toml', '[project]\nrequires-python = ">=3.9"\ndependencies = ["attrs"]\n')
    expect(jobDeps({ script: project, entry: 'main.py' })).toMatchObject({
      requirements: ['attrs'],
      requiresPython: '>=3.9',
    })
    write('proj/requirements.txt', 'six\n')
    expect(jobDeps({ script: project, entry: 'main.py' })).toMatchObject({
      requirements: ['six'],
      ignored: [join(project, 'pyproject.toml')],
    })
    write('proj/main.py', pep723('"idna"'))
    expect(jobDeps({ script: project, entry: 'main.py' })).toMatchObject({
      requirements: ['idna'],
      requiresPython: '>=3.9',
    })
  })

  test('a bad line is named by file and line; a missing --requirements file is named', () => {
    dir = tempDir('deps')
    const script = write(
      'job.py',
      `# /// script\n# dependencies = [\n#   "numpy",\n#   "evil @ https://10.0.0.1/x.whl",\n# ]\n# ///\n`,
    )
    const e = failure(() => jobDeps({ script }))
    expect(e.code).toBe('bad_requirement')
    expect(e.message).toStartWith(
      `${script} line 4: 'evil @ https://10.0.0.1/x.whl': direct URL requirements`,
    )
    const reqs = write('r.txt', 'numpy\n\n./local/pkg\n')
    expect(failure(() => jobDeps({ requirements: reqs })).message).toStartWith(`${reqs} line 3: `)
    expect(failure(() => jobDeps({ requirements: join(dir, 'nope.txt') })).code).toBe('no_requirements_file')
    const many = write('many.txt', Array.from({ length: 65 }, (_, i) => `p${i}`).join('\n'))
    expect(failure(() => jobDeps({ requirements: many })).message).toContain('at most 64 requirements')
    const py = write('py.py', pep723('"a"', 'python3'))
    expect(failure(() => jobDeps({ script: py })).message).toContain("requires-python 'python3' must be")
  })
})
