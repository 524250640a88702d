import { failure } from '../support/failure'
import { describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { metadataBlocks, PEP723_REGEX, scriptMetadata } from '../../src/client/pep723'

describe('PEP 723 blocks: the examples of the PEP', () => {
  test('the script example: requires-python and dependencies', () => {
    const script = [
      '# /// script',
      '# requires-python = ">=3.11"',
      '# dependencies = [',
      '#   "requests<3",',
      '#   "rich",',
      '# ]',
      '# ///',
      '',
      'import requests',
      'from rich.pretty import pprint',
      '',
    ].join('\n')
    expect(scriptMetadata(script, 'job.py')).toEqual({
      dependencies: [
        { text: 'requests<3', line: 4 },
        { text: 'rich', line: 5 },
      ],
      requiresPython: '>=3.11',
      openLine: 1,
    })
  })

  test('a [tool] table is allowed and ignored; a block of another type is not the script block', () => {
    const script = [
      '# /// pyproject',
      '# [run]',
      '# dependencies = ["ignored"]',
      '# ///',
      '',
      '# /// script',
      '# dependencies = [',
      "#   'requests<3',",
      '# ]',
      '# [tool.my-runner]',
      '# mode = "isolated"',
      '# ///',
      'print(1)',
    ].join('\n')
    expect(scriptMetadata(script, 'job.py')?.dependencies).toEqual([{ text: 'requests<3', line: 8 }])
  })

  test('the block ends at the last "# ///" of its comment lines (the PEP\'s embedded C# example)', () => {
    const script = [
      '# /// script',
      '# embedded-csharp = """',
      '# /// <summary>',
      '# /// text',
      '# ///',
      '# /// </summary>',
      '# public class MyClass { }',
      '# """',
      '# ///',
      '',
    ].join('\n')
    const [block] = metadataBlocks(script)
    expect(block).toMatchObject({ type: 'script', openLine: 1, closeLine: 9 })
    expect(scriptMetadata(script, 'x.py')).toMatchObject({ dependencies: [], requiresPython: null })
  })

  test('no block: no metadata; CRLF line ends read like LF', () => {
    expect(scriptMetadata('print("hi")\n', 'job.py')).toBeUndefined()
    expect(scriptMetadata('', 'job.py')).toBeUndefined()
    const crlf = '# /// script\r\n# dependencies = ["numpy"]\r\n# ///\r\nprint()\r\n'
    expect(scriptMetadata(crlf, 'job.py')?.dependencies).toEqual([{ text: 'numpy', line: 2 }])
  })
})

describe('PEP 723 blocks: malformed ones are errors naming the line', () => {
  test('two script blocks', () => {
    const one = '# /// script\n# dependencies = ["a"]\n# ///\n'
    const e = failure(() => scriptMetadata(`${one}\nx = 1\n${one}`, 'job.py'))
    expect(e.code).toBe('bad_script_metadata')
    expect(e.message).toBe(
      "job.py line 6: a second '# /// script' block (the first is on line 1); a script may have only one",
    )
  })

  test('an opening without a closing, a non-comment line inside, an empty block', () => {
    expect(failure(() => scriptMetadata('# /// script\n# dependencies = []\n', 'a.py')).message).toStartWith(
      "a.py line 1: the '# /// script' block is never closed: the file ends at line 3",
    )
    const broken = 'x = 1\n# /// script\n# dependencies = [\n"numpy"\n# ]\n# ///\n'
    expect(failure(() => scriptMetadata(broken, 'b.py')).message).toStartWith(
      "b.py line 2: the '# /// script' block is never closed: line 4 is not a comment",
    )
    // '#dependencies' (no space after '#') is not a comment line of a block either
    expect(
      failure(() => scriptMetadata('# /// script\n#dependencies = []\n# ///\n', 'c.py')).message,
    ).toContain('line 2 is not a comment')
    expect(failure(() => scriptMetadata('# /// script\n# ///\nprint()\n', 'd.py')).message).toContain(
      'it is empty',
    )
  })

  test('invalid TOML, and fields of the wrong type', () => {
    const bad = (toml: string) =>
      failure(() => scriptMetadata(`\n# /// script\n${toml.replace(/^/gm, '# ')}\n# ///\n`, 'job.py'))
    expect(bad('dependencies = ["a",').message).toStartWith(
      "job.py line 2: the '# /// script' block is not valid TOML:",
    )
    expect(bad('dependencies = "numpy"').message).toContain(
      "'dependencies' in the '# /// script' block must be a list of strings",
    )
    expect(bad('dependencies = [1, 2]').message).toContain('must be a list of strings')
    expect(bad('requires-python = 3.11').message).toContain(
      "'requires-python' in the '# /// script' block must be a string",
    )
    expect(bad('a = 1\na = 2').message).toContain('not valid TOML')
  })
})

describe('PEP 723 blocks: hostile input', () => {
  test('a 4 MB script of opening lines is read in linear time (the regex would take minutes)', () => {
    const script = '# /// script\n'.repeat(300_000)
    const t0 = performance.now()
    expect(failure(() => scriptMetadata(script, 'big.py')).message).toContain('never closed')
    // Generous: this takes tens of milliseconds; the regex takes over ten seconds at a sixth of the size.
    expect(performance.now() - t0).toBeLessThan(10_000)
  })

  test('deeply nested TOML is an error, not a crash', () => {
    const deep = `# /// script\n# dependencies = ${'['.repeat(100_000)}${']'.repeat(100_000)}\n# ///\n`
    expect(failure(() => scriptMetadata(deep, 'deep.py')).code).toBe('bad_script_metadata')
  })

  test('odd bytes: NUL, lone CR, Unicode line separators, invalid UTF-8', () => {
    expect(scriptMetadata('\u0000# /// script\n# x=1\n# ///\n', 'a.py')).toBeUndefined()
    expect(scriptMetadata('# /// script\r# dependencies = ["a"]\r# ///\r', 'b.py')?.dependencies).toEqual([
      { text: 'a', line: 2 },
    ])
    // U+2028 is not a line end in Python's text: the block is one odd line, not metadata
    expect(scriptMetadata('# /// script\u2028# dependencies = ["a"]\u2028# ///\n', 'c.py')).toBeUndefined()
    const invalid = Buffer.from([0x23, 0x20, 0xff, 0xfe, 0x0a]).toString('utf8')
    expect(scriptMetadata(invalid, 'd.py')).toBeUndefined()
  })
})

describe('PEP 723 blocks: the scan finds what the reference regex finds', () => {
  const LINES = [
    '# /// script',
    '# ///',
    '#',
    '# a = 1',
    '# /// x-y',
    'print()',
    '',
    '#x',
    '# /// ',
    ' # ///',
  ]
  test('on random scripts of block-like lines', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...LINES), { maxLength: 30 }), fc.boolean(), (lines, newline) => {
        const source = lines.join('\n') + (newline ? '\n' : '')
        const expected = [...source.matchAll(PEP723_REGEX)].map((m) => ({
          type: m.groups!['type']!,
          toml: m
            .groups!['content']!.split(/(?<=\n)/)
            .map((l) => (l.startsWith('# ') ? l.slice(2) : l.slice(1)))
            .join(''),
        }))
        expect(metadataBlocks(source).map((b) => ({ type: b.type, toml: b.toml }))).toEqual(expected)
      }),
      { numRuns: 3000 },
    )
  })
})
