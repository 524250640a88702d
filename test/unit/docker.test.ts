import { describe, expect, test } from 'bun:test'
import { GridError } from '../../src/errors'
import { connectDocker, dockerCandidates } from '../../src/worker/docker'
import { demux, JOB_UID } from '../../src/worker/docker-run'

type Stream = 'stdout' | 'stderr'

/** One frame of Docker's multiplexed stream: [kind, 0, 0, 0, size (BE u32)] + payload. */
function frame(kind: 1 | 2, payload: string | Buffer): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload
  const h = Buffer.alloc(8)
  h[0] = kind
  h.writeUInt32BE(data.length, 4)
  return Buffer.concat([h, data])
}

/** A demuxer that records what it emits, copying each chunk so later writes cannot alias it. */
function recorder() {
  const got: { stream: Stream; data: string }[] = []
  const push = demux((stream, data) => got.push({ stream, data: Buffer.from(data).toString() }))
  return { got, push }
}

describe('demux', () => {
  test('whole frames in one chunk, interleaved stdout and stderr, in order', () => {
    const { got, push } = recorder()
    push(Buffer.concat([frame(1, 'out 1\n'), frame(2, 'err 1\n'), frame(1, 'out 2\n')]))
    expect(got).toEqual([
      { stream: 'stdout', data: 'out 1\n' },
      { stream: 'stderr', data: 'err 1\n' },
      { stream: 'stdout', data: 'out 2\n' },
    ])
  })

  test('a frame split inside its header waits for the rest', () => {
    const { got, push } = recorder()
    const f = frame(2, 'hello')
    push(f.subarray(0, 3))
    expect(got).toEqual([])
    push(f.subarray(3, 7))
    expect(got).toEqual([])
    push(f.subarray(7))
    expect(got).toEqual([{ stream: 'stderr', data: 'hello' }])
  })

  test('a frame split inside its payload is emitted once, whole', () => {
    const { got, push } = recorder()
    const f = frame(1, 'abcdefghij')
    push(f.subarray(0, 12))
    expect(got).toEqual([])
    push(f.subarray(12))
    expect(got).toEqual([{ stream: 'stdout', data: 'abcdefghij' }])
  })

  test('every possible split point of an interleaved stream gives the same output', () => {
    const all = Buffer.concat([
      frame(1, 'A'.repeat(20)),
      frame(2, 'bb'),
      frame(1, ''),
      frame(2, 'C'.repeat(9)),
    ])
    const expected = [
      { stream: 'stdout', data: 'A'.repeat(20) },
      { stream: 'stderr', data: 'bb' },
      { stream: 'stderr', data: 'C'.repeat(9) },
    ]
    for (let i = 0; i <= all.length; i++) {
      for (const j of [i, Math.min(all.length, i + 5), all.length]) {
        const { got, push } = recorder()
        push(all.subarray(0, i))
        push(all.subarray(i, j))
        push(all.subarray(j))
        expect(got).toEqual(expected as typeof got)
      }
    }
  })

  test('one byte at a time', () => {
    const all = Buffer.concat([frame(2, 'err'), frame(1, 'out'), frame(2, '!')])
    const { got, push } = recorder()
    for (let i = 0; i < all.length; i++) push(all.subarray(i, i + 1))
    expect(got).toEqual([
      { stream: 'stderr', data: 'err' },
      { stream: 'stdout', data: 'out' },
      { stream: 'stderr', data: '!' },
    ])
  })

  test('zero-length frames emit nothing and do not desynchronise the stream', () => {
    const { got, push } = recorder()
    push(Buffer.concat([frame(1, ''), frame(2, ''), frame(1, 'x')]))
    expect(got).toEqual([{ stream: 'stdout', data: 'x' }])
    push(frame(2, ''))
    push(frame(2, 'y'))
    expect(got).toEqual([
      { stream: 'stdout', data: 'x' },
      { stream: 'stderr', data: 'y' },
    ])
  })

  test('binary payloads and large frames pass through intact', () => {
    const payload = Buffer.alloc(100_000)
    for (let i = 0; i < payload.length; i++) payload[i] = i % 256
    const all = frame(1, payload)
    const parts: Buffer[] = []
    const push = demux((_s, d) => parts.push(Buffer.from(d)))
    for (let i = 0; i < all.length; i += 4096) push(all.subarray(i, i + 4096))
    expect(Buffer.concat(parts).equals(payload)).toBe(true)
  })

  test('a payload that looks like a header is just data', () => {
    const { got, push } = recorder()
    const fake = frame(2, 'zzz').toString('latin1')
    push(frame(1, Buffer.from(fake, 'latin1')))
    expect(got).toHaveLength(1)
    expect(got[0]!.stream).toBe('stdout')
  })
})

describe('dockerCandidates', () => {
  test('DOCKER_HOST wins alone', () => {
    expect(dockerCandidates({ dockerHost: 'tcp://10.0.0.1:2375', home: '/home/a', uid: 1000 })).toEqual([
      'tcp://10.0.0.1:2375',
    ])
  })

  test('otherwise the usual sockets, system first, then rootless and desktop ones', () => {
    const list = dockerCandidates({ dockerHost: undefined, home: '/home/a', uid: 1000 })
    expect(list[0]).toBe('unix:///var/run/docker.sock')
    expect(list).toContain('unix:///run/user/1000/docker.sock')
    expect(list).toContain('unix:///home/a/.docker/run/docker.sock')
    expect(list).toContain('unix:///home/a/.colima/default/docker.sock')
    expect(list.every((c) => c.startsWith('unix://'))).toBe(true)
  })

  test('XDG_RUNTIME_DIR replaces the guessed rootless path', () => {
    const list = dockerCandidates({ dockerHost: undefined, home: '/h', uid: 1000, runtimeDir: '/run/x' })
    expect(list).toContain('unix:///run/x/docker.sock')
    expect(list).not.toContain('unix:///run/user/1000/docker.sock')
  })
})

describe('connectDocker without an engine', () => {
  test('no socket present: docker_missing, naming where it looked and what to do', async () => {
    const missing = 'unix:///nonexistent/gridx-test/docker.sock'
    const err = await connectDocker([missing]).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(GridError)
    expect((err as GridError).code).toBe('docker_missing')
    expect((err as GridError).message).toContain(missing)
    expect((err as GridError).message).toContain('install Docker')
  })

  test('DOCKER_HOST naming a missing socket: the message blames DOCKER_HOST, not "set DOCKER_HOST"', async () => {
    const host = 'unix:///nonexistent/gridx-test/docker.sock'
    const err = await connectDocker(dockerCandidates({ dockerHost: host, home: '/h', uid: 1000 }), host).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(GridError)
    expect((err as GridError).code).toBe('docker_missing')
    expect((err as GridError).message).toBe(
      `DOCKER_HOST points at ${host}, where nothing listens (no such socket): fix DOCKER_HOST, or unset it to look in the usual places`,
    )
    expect((err as GridError).message).not.toContain('set DOCKER_HOST')
  })

  test('jobs run as nobody', () => {
    expect(JOB_UID).toBe(65534)
  })
})
