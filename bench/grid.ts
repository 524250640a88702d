import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { Health, Job, Worker } from './schemas'
import { Background, baseEnv, run } from './proc'

export const BENCH_USER = 'bench'
export const BENCH_PASSWORD = 'benchpass123'

/** credentials.json (version 2): logins by coordinator URL, then user. */
const Creds = z.object({
  logins: z.record(z.string(), z.record(z.string(), z.object({ token: z.string() }))),
})

/** A coordinator and one worker started from the compiled binary, each with its own GRIDX_HOME. */
export class BenchGrid {
  worker: Background | undefined
  workerId: string | undefined
  slots = 0
  readonly coordinator: string
  readonly httpUrl: string
  private token: string | undefined

  private constructor(
    readonly bin: string,
    readonly root: string,
    readonly serve: Background,
    readonly httpPort: number,
    readonly wsPort: number,
  ) {
    this.coordinator = `127.0.0.1:${httpPort}`
    this.httpUrl = `http://${this.coordinator}`
  }

  /** Starts `gridx serve` on free loopback ports; `track` gets the process before it is ready. */
  static async start(bin: string, root: string, track: (p: Background) => void): Promise<BenchGrid> {
    const home = join(root, 'coordinator-home')
    mkdirSync(home, { recursive: true })
    const serve = new Background(
      'coordinator',
      [bin, 'serve', '--http-port', '0', '--ws-port', '0', '--host', '127.0.0.1'],
      baseEnv({ GRIDX_HOME: home }),
    )
    track(serve)
    const m = await serve.waitFor(
      /listening: API http:\/\/127\.0\.0\.1:(\d+) .*workers ws:\/\/127\.0\.0\.1:(\d+)\/ws\/worker/,
    )
    return new BenchGrid(bin, root, serve, Number(m[1]), Number(m[2]))
  }

  /** Environment of the submitting user (its own home). */
  get clientEnv(): Record<string, string> {
    return baseEnv({ GRIDX_HOME: join(this.root, 'client-home') })
  }

  /** Runs `gridx ARGS` as the submitting user. */
  gridx(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}) {
    return run([this.bin, ...args], { env: this.clientEnv, ...opts })
  }

  /** Creates the bench account (which also logs the client in). */
  async register(): Promise<void> {
    mkdirSync(join(this.root, 'client-home'), { recursive: true })
    const r = await this.gridx([
      'register',
      '--coordinator',
      this.coordinator,
      '--user',
      BENCH_USER,
      '--password',
      BENCH_PASSWORD,
    ])
    if (r.code !== 0) throw new Error(`gridx register failed (exit ${r.code}): ${r.stderr.trim()}`)
  }

  /**
   * Gives the bench account enough credits for every job it will submit (each escrows its maximum
   * cost, 10 credits for 1 CPU x 10 minutes). The first account is the operator, so it may grant.
   * Returns false when the binary has no credits (older builds).
   */
  async fund(credits: number): Promise<boolean> {
    const r = await this.gridx([
      'credits',
      'grant',
      BENCH_USER,
      String(credits),
      '--coordinator',
      this.coordinator,
    ])
    if (r.code === 0) return true
    if (/Unknown (argument|command)|not a valid command|Unknown arguments/i.test(r.stderr)) return false
    throw new Error(`gridx credits grant failed (exit ${r.code}): ${r.stderr.trim()}`)
  }

  /** Starts `gridx work` (with `extra` flags) and waits until `gridx workers --json` lists it. */
  async startWorker(
    name: string,
    slots: number,
    track: (p: Background) => void,
    extra: string[] = [],
  ): Promise<void> {
    const home = join(this.root, 'worker-home')
    mkdirSync(home, { recursive: true })
    const argv = [this.bin, 'work', '--coordinator', this.coordinator, '--user', BENCH_USER]
    argv.push(
      '--password',
      BENCH_PASSWORD,
      '--slots',
      String(slots),
      '--name',
      name,
      '--images',
      '*',
      ...extra,
    )
    this.slots = slots
    this.worker = new Background('worker', argv, baseEnv({ GRIDX_HOME: home }))
    track(this.worker)
    const deadline = Date.now() + 30_000
    for (;;) {
      const r = await this.gridx(['workers', '--json', '--coordinator', this.coordinator])
      if (r.code === 0) {
        const found = z
          .array(Worker)
          .parse(JSON.parse(r.stdout))
          .find((w) => w.name === name)
        if (found) {
          this.workerId = found.id
          return
        }
      }
      if (this.worker.exitCode !== null || Date.now() > deadline) {
        throw new Error(
          `worker ${name} never showed up in 'gridx workers' (exit ${this.worker.exitCode}); its output:\n${this.worker.text()}`,
        )
      }
      await Bun.sleep(100)
    }
  }

  /** The client's saved token for this coordinator. */
  private bearer(): string {
    if (this.token) return this.token
    const file = Creds.parse(
      JSON.parse(readFileSync(join(this.root, 'client-home', 'credentials.json'), 'utf8')),
    )
    const login = Object.values(file.logins[this.httpUrl] ?? {})[0]
    if (!login) throw new Error(`no saved login for ${this.httpUrl} in the client's credentials.json`)
    this.token = login.token
    return login.token
  }

  /** GET an API path with the client's token; the body as text. */
  async raw(path: string): Promise<string> {
    const res = await fetch(`${this.httpUrl}${path}`, {
      headers: { authorization: `Bearer ${this.bearer()}` },
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}: ${text}`)
    return text
  }

  /** GET an API path with the client's token, validated by `schema`. */
  async get<T>(path: string, schema: z.ZodType<T>): Promise<T> {
    return schema.parse(JSON.parse(await this.raw(path)))
  }

  /** `GET /health`: job counts of the whole coordinator (the bench is its only user). */
  health(): Promise<Health> {
    return this.get('/health', Health)
  }

  /** The client's newest jobs (at most 1000). */
  jobs(limit = 1000): Promise<Job[]> {
    return this.get(`/api/jobs?limit=${Math.min(1000, limit)}`, z.array(Job))
  }

  /** POST a job straight to the API (used to separate CLI cost from scheduling cost). */
  async post(body: unknown): Promise<Job> {
    const res = await fetch(`${this.httpUrl}/api/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.bearer()}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    if (!res.ok) throw new Error(`POST /api/jobs: HTTP ${res.status}: ${await res.text()}`)
    return Job.parse(await res.json())
  }
}
