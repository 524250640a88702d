// docs/CONFIG.md documents every key of `$GRIDX_HOME/config.json` the code reads, and no other.
import { describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { FileConfig } from '../../src/config-file'

const ROOT = resolve(import.meta.dir, '../..')
const doc = readFileSync(join(ROOT, 'docs/CONFIG.md'), 'utf8')
const section = doc.slice(doc.indexOf('## Every `config.json` key'))
const documented = [...section.matchAll(/^\| `([A-Za-z]+)` +\|/gm)].map((m) => m[1]!)
const schema = Object.keys(FileConfig.shape)

/** `file.KEY` / `config.file.KEY` reads in the source: what the code takes from config.json. */
function readKeys(): Set<string> {
  const keys = new Set<string>()
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name)
      if (e.isDirectory()) walk(p)
      else if (p.endsWith('.ts')) {
        const text = readFileSync(p, 'utf8')
        // Only files that hold the parsed config.json (a FileConfig, or a Config's `file`).
        if (!/FileConfig|config\.file\./.test(text)) continue
        for (const m of text.matchAll(/\b(?:config\.file|file)\??\.([a-z][A-Za-z]+)\b/g)) keys.add(m[1]!)
      }
    }
  }
  walk(join(ROOT, 'src'))
  return keys
}

describe('docs/CONFIG.md', () => {
  test('every key of the config.json schema has a row, and every row is a key', () => {
    expect(documented.length).toBeGreaterThan(20)
    expect([...documented].sort()).toEqual([...schema].sort())
  })

  test('every key the code reads from config.json is in the schema (so documented)', () => {
    // data/success: a zod result; ts: a file name in a comment.
    const read = [...readKeys()].filter((k) => !['data', 'success', 'ts'].includes(k))
    expect(read.length).toBeGreaterThan(10)
    expect(read.filter((k) => !schema.includes(k))).toEqual([])
  })
})
