import { afterAll, describe, expect, test } from 'bun:test'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { collectInputs } from '../../src/client/files'
import { packInputs } from '../../src/client/input-stream'
import { GridError } from '../../src/errors'
import { readArchive } from '../../src/protocol/archive'

const dir = mkdtempSync(join(tmpdir(), 'gridx-input-stream-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const all = async (s: ReadableStream<Uint8Array>) => new Uint8Array(await new Response(s).arrayBuffer())
const limits = { what: 'inputs', maxBytes: 1e9, maxEntries: 1000 }

describe('packInputs', () => {
  test('streams a tar that reads back as the files, counting every byte of data', async () => {
    mkdirSync(join(dir, 'data/sub'), { recursive: true })
    writeFileSync(join(dir, 'data/a.txt'), 'alpha')
    writeFileSync(join(dir, 'data/sub/b.bin'), Buffer.alloc(300_000, 7))
    writeFileSync(join(dir, 'run.sh'), '#!/bin/sh\n')
    chmodSync(join(dir, 'run.sh'), 0o755)
    const entries = collectInputs([join(dir, 'data'), join(dir, 'run.sh')])
    let counted = 0
    const tar = await all(packInputs(entries, (n) => (counted += n)))
    const back = await readArchive(tar, limits)
    const files = Object.fromEntries(back.entries.map((e) => [e.path, e]))
    expect(Object.keys(files).sort()).toEqual(['data', 'data/a.txt', 'data/sub', 'data/sub/b.bin', 'run.sh'])
    expect(Buffer.from(files['data/a.txt']!.data).toString()).toBe('alpha')
    expect(files['data/sub/b.bin']!.data.length).toBe(300_000)
    expect(files['run.sh']!.mode).toBe(0o755)
    expect(counted).toBe(5 + 300_000 + 10)
  })

  test('a file that grows or shrinks after it was listed fails the stream, saying which', async () => {
    for (const [before, after] of [
      ['short', 'much longer than before'],
      ['a longer first version', 'short'],
    ] as const) {
      const path = join(dir, 'changing.txt')
      writeFileSync(path, before)
      const entries = collectInputs([path])
      writeFileSync(path, after)
      let failure: unknown
      expect(await all(packInputs(entries, undefined, (err) => (failure = err))).catch(() => 'failed')).toBe(
        'failed',
      )
      expect(failure).toBeInstanceOf(GridError)
      expect((failure as GridError).code).toBe('input_changed')
      expect((failure as GridError).message).toContain(path)
    }
  })
})
