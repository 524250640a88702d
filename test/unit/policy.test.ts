import { describe, expect, test } from 'bun:test'
import type { GridError } from '../../src/errors'
import { imageAllowed, imageMatches, normalizeImage } from '../../src/protocol/images'
import { accepts, whyNoWorker } from '../../src/protocol/placement'
import { buildPolicy } from '../../src/worker/policy'
import type { EngineInfo } from '../../src/worker/runtime'

const engine: EngineInfo = {
  version: '27.0',
  cpus: 8,
  memoryBytes: 16 * 1024 ** 3,
  endpoint: 'unix:///var/run/docker.sock',
  runtimes: ['runc'],
}

describe('image references', () => {
  test('familiar short form: registry and library prefixes dropped, :latest added', () => {
    expect(normalizeImage('python')).toBe('python:latest')
    expect(normalizeImage('docker.io/library/python:3.12-slim')).toBe('python:3.12-slim')
    expect(normalizeImage('library/python:3.12')).toBe('python:3.12')
    expect(normalizeImage('ghcr.io/org/img')).toBe('ghcr.io/org/img:latest')
    expect(normalizeImage('localhost:5000/img')).toBe('localhost:5000/img:latest')
    expect(normalizeImage('python@sha256:abc')).toBe('python@sha256:abc')
  })

  test('patterns: * matches anything; an untagged pattern means :latest', () => {
    expect(imageMatches('python:*', 'python:3.12-slim')).toBe(true)
    expect(imageMatches('python:*', 'docker.io/library/python:3.11')).toBe(true)
    expect(imageMatches('docker.io/library/python:*', 'python:3.11')).toBe(true)
    expect(imageMatches('python:*', 'pythonista:1')).toBe(false)
    expect(imageMatches('python:*', 'evil/python:3')).toBe(false)
    expect(imageMatches('python', 'python')).toBe(true)
    expect(imageMatches('python', 'python:3.12')).toBe(false)
    expect(imageMatches('gridx-local/*', 'gridx-local/python:bookworm')).toBe(true)
    expect(imageMatches('*', 'anything/at:all')).toBe(true)
    expect(imageMatches('r.io/a.b:*', 'r.io/aXb:1')).toBe(false) // dots are literal
    expect(imageAllowed(['python:*', 'r-base:*'], 'r-base:4.4')).toBe(true)
    expect(imageAllowed(['python:*'], 'ubuntu:24.04')).toBe(false)
  })
})

describe('buildPolicy', () => {
  test('defaults: all CPUs and memory, no time limit, python images, pulls allowed', () => {
    const p = buildPolicy({}, engine, [])
    expect(p).toMatchObject({ cpus: 8, memoryBytes: 16 * 1024 ** 3, pull: true, ociRuntime: undefined })
    expect(p.offer).toEqual({
      maxTimeoutMs: null,
      images: ['python:*'],
      workdirBytes: 4 * 1024 ** 3,
      packages: true,
    })
  })

  test("the owner's caps lower what is offered", () => {
    const p = buildPolicy(
      {
        maxCpus: 2,
        maxMemoryBytes: 1024 ** 3,
        maxTimeoutMs: 60_000,
        images: ['r-base:*'],
        maxDiskBytes: 1e8,
      },
      engine,
      [],
    )
    expect(p.cpus).toBe(2)
    expect(p.memoryBytes).toBe(1024 ** 3)
    expect(p.offer).toEqual({ maxTimeoutMs: 60_000, images: ['r-base:*'], workdirBytes: 1e8, packages: true })
    // Caps above the machine are the machine.
    expect(buildPolicy({ maxCpus: 64 }, engine, []).cpus).toBe(8)
  })

  test('with pulls off, only the allowed images present are offered', () => {
    const local = ['python:3.12-slim', 'docker.io/library/python:3.11', 'ubuntu:24.04']
    const p = buildPolicy({ pull: false }, engine, local)
    expect(p.offer.images.sort()).toEqual(['python:3.11', 'python:3.12-slim'])
    expect(p.allow).toEqual(['python:*'])
    const none = (() => {
      try {
        return buildPolicy({ pull: false }, engine, ['ubuntu:24.04'])
      } catch (err) {
        return err as GridError
      }
    })()
    expect((none as GridError).code).toBe('no_images')
    expect((none as GridError).message).toContain('docker pull python:3.12-slim')
  })

  test('an OCI runtime Docker does not have is refused with how to add it', () => {
    expect(() => buildPolicy({ ociRuntime: 'runsc' }, engine, [])).toThrow(/no runtime 'runsc'.*daemon\.json/)
    expect(
      buildPolicy({ ociRuntime: 'runsc' }, { ...engine, runtimes: ['runc', 'runsc'] }, []).ociRuntime,
    ).toBe('runsc')
  })
})

describe('placement', () => {
  const offer = {
    cpus: 4,
    memoryBytes: 8 * 1024 ** 3,
    maxTimeoutMs: 3_600_000,
    images: ['python:*'],
    workdirBytes: 1024 ** 3,
  }
  const job = {
    cpus: 1,
    memoryBytes: 512 * 1024 ** 2,
    timeoutMs: 600_000,
    image: 'python:3.12-slim',
    filesBytes: 100 * 1024 ** 2,
  }

  test('a worker accepts a job only inside its capacity and its policy', () => {
    expect(accepts(offer, job)).toBe(true)
    expect(accepts(offer, { ...job, cpus: 5 })).toBe(false)
    expect(accepts(offer, { ...job, memoryBytes: 9 * 1024 ** 3 })).toBe(false)
    expect(accepts(offer, { ...job, timeoutMs: 7_200_000 })).toBe(false)
    expect(accepts({ ...offer, maxTimeoutMs: null }, { ...job, timeoutMs: 7_200_000 })).toBe(true)
    expect(accepts(offer, { ...job, image: 'ubuntu:24.04' })).toBe(false)
    expect(accepts(offer, { ...job, filesBytes: 2 * 1024 ** 3 })).toBe(false)
    expect(accepts({ ...offer, workdirBytes: null }, { ...job, filesBytes: 2 * 1024 ** 3 })).toBe(true)
    expect(accepts(offer, { ...job, filesBytes: null })).toBe(true)
  })

  test('why no worker takes it names the first need none meets and what to change', () => {
    expect(whyNoWorker([offer], { ...job, image: 'ubuntu:24.04' })).toMatch(
      /no connected worker runs image ubuntu:24.04 \(their owners allow: python:\*\).*--image/,
    )
    expect(whyNoWorker([offer], { ...job, cpus: 8 })).toMatch(/offers 8 CPUs.*largest offers 4 CPUs.*--cpus/)
    expect(whyNoWorker([offer], { ...job, timeoutMs: 7_200_000 })).toMatch(
      /longer than 1h00m \(this one asks for 2h00m\).*--timeout/,
    )
    const small = { ...offer, cpus: 1, maxTimeoutMs: null }
    const short = { ...offer, maxTimeoutMs: 60_000 }
    expect(whyNoWorker([small, short], { ...job, cpus: 2 })).toContain('no single connected worker meets all')
    expect(
      whyNoWorker([offer, { ...offer, workdirBytes: 2 * 1024 ** 3 }], { ...job, filesBytes: 3 * 1024 ** 3 }),
    ).toMatch(
      /working directory holds the job's 3 GiB of files \(the largest is 2 GiB, set by its owner's --max-disk\).*send less/,
    )
  })
})

describe('image patterns are safe to evaluate', () => {
  test('`*` stays inside one path segment; `**` crosses them', () => {
    expect(imageMatches('python:*', 'python:5000/evil/miner')).toBe(false)
    expect(imageMatches('ghcr.io/org/*', 'ghcr.io/org/img:1')).toBe(true)
    expect(imageMatches('ghcr.io/*', 'ghcr.io/org/img:1')).toBe(false)
    expect(imageMatches('ghcr.io/**', 'ghcr.io/org/img:1')).toBe(true)
    expect(imageMatches('**/b*', 'a/c/b/bx:1')).toBe(true)
    expect(imageMatches('*a*b', 'xaxxb:latest')).toBe(false)
    expect(imageMatches('*a*b*', 'xaxxb:latest')).toBe(true)
  })

  test('a pattern built to make a regex backtrack is answered (a backtracking matcher would not finish)', () => {
    expect(imageMatches(`${'*a'.repeat(120)}*b`, 'a'.repeat(200))).toBe(false)
    expect(imageMatches(`${'*a'.repeat(120)}*`, 'a'.repeat(200))).toBe(true)
  })
})
