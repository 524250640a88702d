import type { Ending, NewJob, Store } from '../../src/coordinator/store/types'

// What the shared store suites build their cases from (one module for both engines' tests).

/** Millicredits each test user starts with. */
export const GRANT = 10_000

type NewUser = Parameters<Store['accounts']['create']>[0]

/** A new account's row (its password hash names it). */
export function user(id: string, name: string, createdAt: number): NewUser {
  return { id, name, passwordHash: `hash-${name}`, createdAt }
}

/** Gives a store alice (the operator, the first account) and bob, each granted `GRANT`, and bob's worker w-bob. */
export async function seed(store: Store): Promise<Store> {
  await store.accounts.create(user('u-alice', 'alice', 1), { signup: 'open', grant: GRANT })
  await store.accounts.create(user('u-bob', 'bob', 2), { signup: 'open', grant: GRANT })
  await store.workers.upsert('w-bob', 'u-bob', 'bobs-box', 3, 'key-bob')
  return store
}

let seq = 0

/** A new job of alice's (override what a test needs). */
export function newJob(over: Partial<NewJob> = {}): NewJob {
  seq++
  return {
    id: `job-${seq}`,
    ownerId: 'u-alice',
    image: 'python:3.12-slim',
    command: ['python3', 'job.py'],
    scriptName: 'job.py',
    script: Buffer.from('print("hi")\n'),
    maxCost: 0,
    args: ['--n', '3'],
    timeoutMs: 60_000,
    cpus: 1,
    memoryBytes: 512 * 1024 ** 2,
    maxAttempts: 3,
    createdAt: 1000 + seq,
    ...over,
  }
}

/** An exit with `exitCode` at `at` that bills nothing (succeeded when 0, else failed). */
export const ok = (exitCode = 0, at = 5000): Ending => ({
  state: exitCode === 0 ? 'succeeded' : 'failed',
  exitCode,
  outcome: 'exited',
  error: null,
  at,
  cost: 0,
  billedMs: 0,
})

/** A clean exit at `at` that costs `cost`. */
export const paid = (cost: number, at = 5000): Ending => ({ ...ok(0, at), cost, billedMs: 1000 })

/** What a cancel that bills nothing passes the store. */
export const NOTHING = { cost: 0, billedMs: 0 }

/** A chunk of output. */
export const chunk = (seq: number, text: string, stream: 'stdout' | 'stderr' = 'stdout') => ({
  seq,
  stream,
  data: Buffer.from(text),
})

/** What a promise rejects with (it must reject: a fulfilled one fails the test). */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  return await p.then(
    () => {
      throw new Error('expected a rejection, got a result')
    },
    (err: unknown) => err,
  )
}
