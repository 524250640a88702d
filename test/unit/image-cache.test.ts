import { describe, expect, test } from 'bun:test'
import { ImageCache } from '../../src/worker/images'
import type { ContainerRuntime } from '../../src/worker/runtime'

/** A runtime whose images and pulls the test decides; containers are out of scope here. */
function runtime(present: Set<string>, pull: (ref: string, progress: (l: string) => void) => Promise<void>) {
  const calls = { pull: 0, prepare: 0 }
  const rt = {
    hasImage: (ref: string) => Promise.resolve(present.has(ref)),
    pull: async (ref: string, progress: (l: string) => void) => {
      calls.pull++
      await pull(ref, progress)
      present.add(ref)
    },
    prepare: (ref: string) => {
      calls.prepare++
      return Promise.resolve(`prepared/${ref}`)
    },
  } as unknown as ContainerRuntime
  return { rt, calls }
}

describe('ImageCache', () => {
  test('a present image is prepared once, however many jobs ask at the same time', async () => {
    const { rt, calls } = runtime(new Set(['python:3.12']), () => Promise.resolve())
    const cache = new ImageCache(rt, true, () => undefined)
    const all = await Promise.all([1, 2, 3].map(() => cache.ready('python:3.12')))
    expect(all).toEqual([1, 2, 3].map(() => ({ ok: true, ref: 'prepared/python:3.12' })))
    expect(calls).toEqual({ pull: 0, prepare: 1 })
  })

  test('a missing image is pulled with a few progress lines, not one per event', async () => {
    const logs: string[] = []
    const { rt, calls } = runtime(new Set(), (_ref, progress) => {
      progress('abc Pulling fs layer')
      for (let i = 0; i < 500; i++) progress(`abc Downloading [${i}/500]`)
      progress('abc Pull complete')
      return Promise.resolve()
    })
    const r = await new ImageCache(rt, true, (l) => logs.push(l)).ready('python:3.12')
    expect(r.ok).toBe(true)
    expect(calls.pull).toBe(1)
    expect(logs[0]).toBe('image python:3.12 is not here; pulling it')
    expect(logs).toContain('pull python:3.12: abc Pull complete')
    expect(logs.filter((l) => l.includes('Downloading')).length).toBeLessThanOrEqual(2)
    expect(logs.at(-1)).toBe('pulled python:3.12')
  })

  test('a failed pull gives the submitter a reason, and a later job tries again', async () => {
    let fail = true
    const { rt, calls } = runtime(new Set(), () =>
      fail ? Promise.reject(new Error('manifest unknown: manifest unknown')) : Promise.resolve(),
    )
    const cache = new ImageCache(rt, true, () => undefined)
    const r = await cache.ready('pythn:3.12')
    expect(r).toEqual({
      ok: false,
      error: expect.stringMatching(
        /'pythn:3.12' could not be pulled on the worker: no such image.*check the name/,
      ),
    } as never)
    fail = false
    expect((await cache.ready('pythn:3.12')).ok).toBe(true)
    expect(calls.pull).toBe(2)
  })

  test('with pulls off, a missing image is refused with the reason and never pulled', async () => {
    const { rt, calls } = runtime(new Set(), () => Promise.resolve())
    const r = await new ImageCache(rt, false, () => undefined).ready('python:3.13')
    expect(r.ok).toBe(false)
    expect(!r.ok && r.error).toContain('does not allow pulling images')
    expect(calls.pull).toBe(0)
  })
})
