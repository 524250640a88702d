import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Socket } from 'bun'
import { readArchive } from '../../src/protocol/archive'
import { startTestCoordinator, storedDigests, type TestCoordinator } from '../support/coordinator'
import { webLogin, type WebSession } from '../support/web-session'

// The run form's upload: counted with the API's bodies per user, its quota reserved before its
// body is read, a lower limit than --max-input, and two files of one name refused.

let t: TestCoordinator
let alice: WebSession
beforeAll(async () => {
  t = await startTestCoordinator({ maxBodiesPerUser: 1, quotaBytes: 8 * 1024 * 1024 })
  alice = await webLogin(t)
})
afterAll(async () => t.stop())

const text = async (res: Response) => (await res.text()).replaceAll('&#39;', "'").replaceAll('&quot;', '"')

function runForm(s: WebSession, files: File[]) {
  const body = new FormData()
  body.set('csrf', s.csrf)
  body.set('script', new File(['print(1)\n'], 'job.py'))
  for (const f of files) body.append('inputs', f)
  return fetch(`${t.base}/run`, {
    method: 'POST',
    headers: { cookie: s.cookie, origin: t.base },
    body,
    redirect: 'manual',
  })
}

/** A run form post whose headers announce `length` bytes, of which only the first few are sent. */
async function stalledPost(s: WebSession, length: number) {
  let answer = ''
  const port = new URL(t.base).port
  const sock: Socket = await Bun.connect({
    hostname: '127.0.0.1',
    port: Number(port),
    socket: { data: (_s, d) => void (answer += d.toString()) },
  })
  sock.write(
    `POST /run HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncookie: ${s.cookie}\r\norigin: ${t.base}\r\n` +
      `content-type: multipart/form-data; boundary=xx\r\ncontent-length: ${length}\r\n\r\n--xx\r\n`,
  )
  return {
    answer: async (ms: number) => {
      const end = Date.now() + ms
      while (!answer.includes('\r\n\r\n') && Date.now() < end) await Bun.sleep(20)
      return answer
    },
    close: () => sock.end(),
  }
}

describe('the run form upload', () => {
  test('two input files of the same name are refused, saying so', async () => {
    const res = await runForm(alice, [new File(['a'], 'data.csv'), new File(['b'], 'data.csv')])
    expect(res.status).toBe(400)
    expect(await text(res)).toContain("two input files are both named 'data.csv'")
  })

  test('a form that would not fit in the quota is refused before its body is read', async () => {
    const post = await stalledPost(alice, 9 * 1024 * 1024)
    // Today's main waited for the whole body; the answer comes at once now (generous bound).
    const head = await post.answer(15_000)
    post.close()
    expect(head).toStartWith('HTTP/1.1 413')
    expect(head).toContain('storage quota exceeded')
  })

  test('a form past the dashboard limit is refused before its body is read, saying how to send more', async () => {
    const post = await stalledPost(alice, 200 * 1024 * 1024)
    const head = await post.answer(15_000)
    post.close()
    expect(head).toStartWith('HTTP/1.1 413')
    expect(head).toContain('gridx submit --inputs')
  })

  test("an upload in flight counts against the user's cap, with the API's", async () => {
    const post = await stalledPost(alice, 1024 * 1024)
    try {
      // Wait until the first holds its slot: the second one then is refused with 429.
      let second: Response | undefined
      for (let i = 0; i < 100; i++) {
        second = await runForm(alice, [new File(['x'], 'x.txt')])
        if (second.status === 429) break
        await Bun.sleep(50)
      }
      expect(second?.status).toBe(429)
      // The API shares the count: a job submission of alice's is refused too.
      const api = await t.post(
        '/api/jobs',
        { image: 'img', command: ['true'], timeoutMs: 60_000, cpus: 1, memoryBytes: 64 * 1024 ** 2 },
        t.token,
      )
      expect(api.status).toBe(429)
    } finally {
      post.close()
    }
    // Given back when the stalled one ends: a form then goes through.
    const big = new Uint8Array(300 * 1024).map((_, i) => i % 251)
    let ok: Response | undefined
    for (let i = 0; i < 100; i++) {
      ok = await runForm(alice, [new File(['x'], 'x.txt'), new File([big], 'sub dir/big.bin')])
      if (ok.status === 303) break
      await Bun.sleep(50)
    }
    expect(ok?.status).toBe(303)
    const job = await t.job(ok!.headers.get('location')!.split('/').pop()!)
    expect(job.inputs?.bytes).toBeGreaterThan(big.length)
    // The streamed archive holds both files, whole, at the top of the job's folder... (a name's
    // folder part is kept as the CLI keeps it).
    const digests = await storedDigests(t.coord)
    const found: Record<string, number> = {}
    for (const d of digests) {
      const res = await t.coord.blobs.response(d)
      const contents = await readArchive(new Uint8Array(await res!.arrayBuffer()), {
        what: 'test',
        maxBytes: 1 << 30,
        maxEntries: 100,
      })
      for (const e of contents.entries) if (e.type === 'file') found[e.path] = e.data.length
      const bin = contents.entries.find((e) => e.path.endsWith('big.bin'))
      if (bin) expect(Buffer.from(bin.data).equals(Buffer.from(big))).toBe(true)
    }
    expect(found['x.txt']).toBe(1)
    expect(Object.entries(found).some(([p, n]) => p.endsWith('big.bin') && n === big.length)).toBe(true)
  })
})
