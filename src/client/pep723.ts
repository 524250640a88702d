import { GridError } from '../errors'

/**
 * PEP 723 inline script metadata: the `# /// script` … `# ///` comment block a Python script
 * declares its `dependencies` and `requires-python` in. Found exactly as the PEP's reference
 * regex finds it,
 *
 *   (?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$
 *
 * but by a scan over lines: run by a regex engine, that pattern takes quadratic time on a script
 * of many opening lines (minutes for a 4 MB one), and a script is the submitter's to write.
 * test/unit/pep723.test.ts checks the scan against the regex on random scripts.
 */

/** The reference regex, for the tests that hold the scan to it. */
export const PEP723_REGEX = /^# \/\/\/ (?<type>[a-zA-Z0-9-]+)$\s(?<content>(^#(| .*)$\s)+)^# \/\/\/$/gm

/** One metadata block of a script. */
export interface MetadataBlock {
  type: string
  /** 1-based lines of the opening `# /// TYPE` and the closing `# ///`. */
  openLine: number
  closeLine: number
  /** The TOML inside: each line without its `#` and the one space after it. */
  toml: string
  /** The block's content lines as written, for naming the line a problem is on. */
  lines: string[]
}

/** What a script's `script` block declares. */
export interface ScriptMetadata {
  dependencies: { text: string; line: number }[]
  requiresPython: string | null
  openLine: number
}

const OPEN = /^# \/\/\/ ([a-zA-Z0-9-]+)$/
const isContent = (l: string) => l === '#' || l.startsWith('# ')

/**
 * Every metadata block of a script, in order, as the reference regex's `finditer` yields them.
 * Lines end at `\n`; like Python's text files, `\r\n` and a lone `\r` count as `\n`.
 */
export function metadataBlocks(source: string): MetadataBlock[] {
  const lines = source.replace(/\r\n?/g, '\n').split('\n')
  // The last piece has no newline after it: it can close a block, never be inside one.
  const n = lines.length
  const content = (i: number) => i < n - 1 && isContent(lines[i]!)
  const close = (i: number) => i < n && lines[i] === '# ///'
  // last[i]: the last closing line a block whose content starts at line i may end on (greedy,
  // like the regex's `+`), or -1. Computed from the end so the whole scan stays linear.
  const last = new Int32Array(n + 1).fill(-1)
  for (let i = n - 1; i >= 0; i--) {
    if (!content(i)) continue
    last[i] = content(i + 1) ? last[i + 1]! : close(i + 1) ? i + 1 : -1
    if (last[i] === -1 && close(i)) last[i] = i
  }
  const blocks: MetadataBlock[] = []
  for (let i = 0; i < n - 1; i++) {
    const m = OPEN.exec(lines[i]!)
    if (!m || !content(i + 1)) continue
    const end = last[i + 1]!
    if (end <= i + 1) continue
    const inside = lines.slice(i + 1, end)
    blocks.push({
      type: m[1]!,
      openLine: i + 1,
      closeLine: end + 1,
      toml: inside.map((l) => (l.startsWith('# ') ? l.slice(2) : l.slice(1)) + '\n').join(''),
      lines: inside,
    })
    i = end // matches do not overlap: the search goes on after the closing line
  }
  return blocks
}

/**
 * The problem with a `# /// script` opening line outside every block found (so no block matched
 * it), naming the line where it goes wrong; undefined when there is no such line.
 */
function unclosed(source: string, file: string, blocks: MetadataBlock[]): GridError | undefined {
  const lines = source.replace(/\r\n?/g, '\n').split('\n')
  const inside = (i: number) => blocks.some((b) => i + 1 > b.openLine && i + 1 < b.closeLine)
  const open = lines.findIndex((l, i) => l === '# /// script' && !inside(i))
  if (open < 0) return undefined
  let i = open + 1
  while (i < lines.length - 1 && isContent(lines[i]!)) i++
  const where =
    lines[open + 1] === '# ///'
      ? "it is empty: put its TOML (e.g. dependencies = [\"requests<3\"]) between '# /// script' and '# ///'"
      : i >= lines.length - 1 && (lines[i] === '' || isContent(lines[i]!))
        ? `the file ends at line ${i + 1} without a closing '# ///'`
        : `line ${i + 1} is not a comment ('#' alone, or '# ' and text), and every line up to the closing '# ///' must be`
  return new GridError(
    'bad_script_metadata',
    `${file} line ${open + 1}: the '# /// script' block is never closed: ${where} (see https://peps.python.org/pep-0723/)`,
  )
}

/** The TOML parser, as a seam so tests of odd input need not depend on one engine's messages. */
export type TomlParse = (text: string) => unknown

/** Bun's built-in TOML parser (TOML 1.0; throws with a message on invalid input). */
export const bunToml: TomlParse = (text) => Bun.TOML.parse(text)

/**
 * Reads a script's PEP 723 `script` block: undefined when it has none; a `bad_script_metadata`
 * error naming the line for two blocks, an unclosed one, invalid TOML or a field of the wrong type.
 */
export function scriptMetadata(
  source: string,
  file: string,
  parse: TomlParse = bunToml,
): ScriptMetadata | undefined {
  const blocks = metadataBlocks(source)
  const found = blocks.filter((b) => b.type === 'script')
  const bad = (line: number, why: string) =>
    new GridError('bad_script_metadata', `${file} line ${line}: ${why}`)
  if (found.length > 1) {
    throw bad(
      found[1]!.openLine,
      `a second '# /// script' block (the first is on line ${found[0]!.openLine}); a script may have only one`,
    )
  }
  const block = found[0]
  if (!block) {
    const open = unclosed(source, file, blocks)
    if (open) throw open
    return undefined
  }
  let data: unknown
  try {
    data = parse(block.toml)
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/^TOML Parse error: /, '') : String(err)
    throw bad(block.openLine, `the '# /// script' block is not valid TOML: ${why}`)
  }
  const table = data as Record<string, unknown>
  const deps = table['dependencies'] ?? []
  if (!Array.isArray(deps) || !deps.every((d) => typeof d === 'string')) {
    throw bad(
      block.openLine,
      `'dependencies' in the '# /// script' block must be a list of strings, e.g. dependencies = ["requests<3"]`,
    )
  }
  const rp = table['requires-python'] ?? null
  if (rp !== null && typeof rp !== 'string') {
    throw bad(
      block.openLine,
      `'requires-python' in the '# /// script' block must be a string, e.g. requires-python = ">=3.10"`,
    )
  }
  return {
    dependencies: deps.map((text) => ({ text, line: lineOf(block, text) })),
    requiresPython: rp,
    openLine: block.openLine,
  }
}

/** The script line a dependency is written on (its first mention), else the block's opening. */
function lineOf(block: MetadataBlock, text: string): number {
  const i = block.lines.findIndex((l) => l.includes(`"${text}"`) || l.includes(`'${text}'`))
  return i < 0 ? block.openLine : block.openLine + 1 + i
}
