import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { inviteHash } from '../../src/coordinator/store/invite-rules'
import { openSqlite } from '../../src/coordinator/store/sqlite'
import type { Store } from '../../src/coordinator/store/types'
import { newJob, paid } from '../support/store-fixtures'

// Run as its own process by test/store/migrate.test.ts: a coordinator's database is handed over
// closed, and bun:sqlite closes a file only lazily while statements of it live in the process.

const lease = (jobId: string, attempt = 1) => ({ jobId, attempt })
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

/** Output chunks of the succeeded job. */
export const CHUNKS = 300

/** A SQLite grid with history, made through the store: the source of every test. */
export async function buildGrid(dir: string): Promise<void> {
  const s: Store = openSqlite(join(dir, 'gridx.db'))
  await s.accounts.create(
    { id: 'u-alice', name: 'alice', passwordHash: 'h-a', createdAt: 1 },
    { signup: 'invite', grant: 10_000 },
  )
  const inv = await s.invites.create('u-alice', { grantMc: 5000, uses: 2, expiresAt: 9e12, now: 2 })
  await s.accounts.create(
    { id: 'u-bob', name: 'bob', passwordHash: 'h-b', createdAt: 3 },
    { signup: 'invite', grant: 0, inviteHash: inviteHash(inv.code) },
  )
  await s.accounts.addToken('t'.repeat(64), 'u-bob', 4, 9e12)
  await s.workers.upsert('w-bob', 'u-bob', 'bobs-box', 5, 'key-bob')
  await s.credits.grant('bob', 777, 'thanks', 6)
  // Succeeded, with output in many chunks, outputs and a receipt.
  const done = await s.queue.create(newJob({ id: 'j-done', maxCost: 300, createdAt: 10 }))
  await s.leases.assign(done.id, 'w-bob', 99_999, 11)
  await s.leases.markRunning(lease(done.id), 'w-bob', 12)
  for (let seq = 0; seq < CHUNKS; seq++) {
    const data = Buffer.from(`line ${seq} ${'x'.repeat(seq % 50)}\n`)
    await s.leases.appendOutput(
      lease(done.id),
      'w-bob',
      { seq, stream: seq % 3 ? 'stdout' : 'stderr', data },
      1e9,
    )
  }
  const archive = Buffer.from('an /out archive')
  await s.leases.stageOutputs(lease(done.id), 'w-bob', {
    sha256: sha(archive),
    bytes: archive.length,
    files: 1,
    dataBytes: 3,
  })
  await s.leases.finish(lease(done.id), 'w-bob', {
    ...paid(120, 20),
    receipt: { body: '{"r":1}', signature: 'sig' },
    outputs: { sha256: sha(archive), bytes: archive.length, files: 1 },
  })
  // Failed, cancelled, and one still queued with its escrow held.
  await s.queue.create(newJob({ id: 'j-fail', maxCost: 50, createdAt: 21 }))
  await s.leases.assign('j-fail', 'w-bob', 99_999, 22)
  await s.leases.finish(lease('j-fail'), 'w-bob', {
    ...paid(10, 23),
    state: 'failed',
    exitCode: 3,
    error: 'exit 3',
  })
  await s.queue.create(newJob({ id: 'j-cancel', maxCost: 40, createdAt: 24 }))
  await s.leases.cancel('j-cancel', 25, () => ({ cost: 0, billedMs: 0 }))
  await s.queue.create(
    newJob({
      id: 'j-queued',
      maxCost: 200,
      createdAt: 26,
      args: ['a b', 'ü'],
      name: 'sweep ü',
      labels: { exp: '3' },
      env: { SEED: '7' },
    }),
  )
  // An array member waiting for the queued job (arrays and dependencies, issue 17).
  await s.workflows.create(
    [
      newJob({
        id: 'j-after',
        maxCost: 10,
        createdAt: 27,
        arrayId: 'arr-migrate01',
        arrayIndex: 0,
        arrayCap: 1,
      }),
    ],
    { ids: ['j-queued'], anyEnd: false },
  )
  const input = Buffer.from('an input archive')
  await s.files.recordUpload(sha(input), 'u-alice', input.length, 2, 27)
  mkdirSync(join(dir, 'blobs'))
  for (const b of [archive, input]) writeFileSync(join(dir, 'blobs', sha(b)), b)
  await s.close()
}

if (import.meta.main) await buildGrid(process.argv[2]!)
