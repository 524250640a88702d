import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { GRIDX } from '../e2e/harness'

/** The repository's root. */
export const ROOT = resolve(import.meta.dir, '../..')

const helps = new Map<string, string>()

/** The binary's `--help` text for a subcommand (or the top level). */
export function help(sub?: string): string {
  const key = sub ?? ''
  let text = helps.get(key)
  if (text === undefined) {
    const r = Bun.spawnSync([GRIDX, ...(sub ? [sub] : []), '--help'], { stdout: 'pipe', stderr: 'pipe' })
    if (r.exitCode !== 0) throw new Error(`gridx ${key} --help failed: ${r.stderr.toString()}`)
    text = r.stdout.toString()
    helps.set(key, text)
  }
  return text
}

/** The subcommands the binary lists in `gridx --help`. */
export function subcommands(): Set<string> {
  return new Set([...help().matchAll(/^ {2}gridx ([a-z][a-z-]*)/gm)].map((m) => m[1]!))
}

/** Every flag (and alias) a subcommand's `--help` lists. */
export function flagsOf(sub?: string): Set<string> {
  const flags = new Set<string>()
  for (const line of help(sub).split('\n')) {
    if (!/^\s+-/.test(line)) continue
    const names = line.trim().split(/\s{2,}/)[0] ?? ''
    for (const m of names.matchAll(/(?<![\w-])(--?[a-zA-Z][\w-]*)/g)) flags.add(m[1]!)
  }
  return flags
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|c)$/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
}

/** All of src/ as text, file by file. */
export function sourceTexts(): { path: string; text: string }[] {
  return sources(join(ROOT, 'src')).map((path) => ({ path, text: readFileSync(path, 'utf8') }))
}

/** Environment variables the program reads (only src/config.ts reads the environment). */
export function acceptedEnv(): Set<string> {
  const text = readFileSync(join(ROOT, 'src/config.ts'), 'utf8')
  return new Set([...text.matchAll(/env\['([A-Z][A-Z0-9_]*)'\]/g)].map((m) => m[1]!))
}

/** The codes of every GridError src/ can throw (directly, or through a `fail(code, ...)` helper). */
export function errorCodes(): Set<string> {
  const codes = new Set<string>()
  for (const { text } of sourceTexts()) {
    for (const m of text.matchAll(/new GridError\(\s*'([a-z_]+)'/g)) codes.add(m[1]!)
    // Codes handed to a local helper that builds the GridError (doctor check names have no `_`).
    for (const m of text.matchAll(/\bfail\(\s*'([a-z]+_[a-z_]+)'/g)) codes.add(m[1]!)
  }
  return codes
}

/** Splits a shell command line into words (quotes respected, no expansion). */
export function shellWords(line: string): string[] {
  const words: string[] = []
  for (const m of line.matchAll(/'([^']*)'|"((?:[^"\\]|\\.)*)"|(\S+)/g)) words.push(m[1] ?? m[2] ?? m[3]!)
  return words
}

/** One `gridx` invocation: its subcommand (undefined at the top level) and the flags it uses. */
export interface Invocation {
  line: string
  sub: string | undefined
  flags: string[]
}

/** Finds `gridx ...` in a shell command (after sudo, ip netns exec, docker compose run, ...). */
export function invocationOf(words: string[], line: string): Invocation | undefined {
  // The binary in command position, not a path handed to another program (install dist/gridx DEST).
  const at = words.findIndex(
    (w, i) => (w === 'gridx' || w.endsWith('/gridx')) && !(words[i + 1] ?? '').includes('/'),
  )
  if (at < 0) return undefined
  const rest: string[] = []
  for (const w of words.slice(at + 1)) {
    if (['|', '&&', '||', ';', '&', '>', '2>&1'].includes(w) || w.startsWith('#')) break
    rest.push(w)
  }
  const end = rest.indexOf('--')
  const args = end < 0 ? rest : rest.slice(0, end)
  const sub = args.find((w) => !w.startsWith('-'))
  const first = sub === undefined ? -1 : args.indexOf(sub)
  // A flag before the subcommand belongs to the top level (gridx --version).
  const flags = args.filter((w, i) => w.startsWith('-') && i > first).map((w) => w.split('=')[0]!)
  return { line, sub: first === 0 || sub === undefined ? sub : undefined, flags }
}

/** The shell commands in a markdown text's fenced code blocks, continuation lines joined. */
export function shellLines(markdown: string): string[] {
  const lines: string[] = []
  for (const block of markdown.matchAll(/^```(sh|bash|console|shell|powershell)?\n([\s\S]*?)^```/gm)) {
    const body = (block[2] ?? '').replace(/\\\n\s*/g, ' ')
    for (const raw of body.split('\n')) {
      const line = raw.replace(/^\s*(\$|PS>)\s+/, '').trim()
      if (line && !raw.trim().startsWith('# ')) lines.push(line)
    }
  }
  return lines
}
