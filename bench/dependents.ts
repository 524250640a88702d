// `make bench`: what deciding the jobs that wait for others costs as their dependencies end. A job
// `--after` a whole array is looked at on each member's end; that look must not grow with the
// array (it read every dependency before: 5 ms a member for 4,000). Times the settlement of each
// member's end of an array of BENCH_DEPS_SMALL (1,000) and BENCH_DEPS_LARGE (4,000) members with
// one job after all of them, on SQLite, against the same transaction for a job nobody waits for.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openSqlite } from '../src/coordinator/store/sqlite'
import type { Store } from '../src/coordinator/store/types'
import { newOrderedId } from '../src/protocol/ids'
import { envInt } from './env'
import { newJob, ok, seed } from '../test/support/store-fixtures'

/** Most a member's end may cost in the large array against the small one (linear: about 1). */
const TARGET = 1.5

/** Microseconds of settlement per member's end of an array of `size` with one job after it all. */
async function perMemberEnd(size: number): Promise<{ waited: number; alone: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'gridx-deps-'))
  const store: Store = await seed(openSqlite(join(dir, 'gridx.db')))
  try {
    const t = Date.now()
    const members = await store.workflows.create(
      Array.from({ length: size }, (_, i) =>
        newJob({ id: newOrderedId(t + i), arrayId: 'arr0000000001', arrayIndex: i }),
      ),
    )
    await store.workflows.create([newJob({ id: newOrderedId(t + size) })], {
      ids: members.map((m) => m.id),
      anyEnd: false,
    })
    const lone = await store.queue.create(newJob({ id: newOrderedId(t + size + 1) }))
    let waited = 0
    let alone = 0
    let released = 0
    for (const m of members) {
      await store.leases.assign(m.id, 'w-bob', 10 ** 13, 2000)
      await store.leases.finish({ jobId: m.id, attempt: 1 }, 'w-bob', ok(0))
      let start = performance.now()
      released += (await store.workflows.settleDependents([m.id], 6000)).released.length
      waited += performance.now() - start
      start = performance.now()
      await store.workflows.settleDependents([lone.id], 6000)
      alone += performance.now() - start
    }
    if (released !== 1) throw new Error(`the job after the array was released ${released} times, not once`)
    return { waited: (waited / size) * 1000, alone: (alone / size) * 1000 }
  } finally {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

const small = envInt('BENCH_DEPS_SMALL', 1000, 10)
const large = envInt('BENCH_DEPS_LARGE', 4000, 10)
const a = await perMemberEnd(small)
const b = await perMemberEnd(large)
const ratio = b.waited / a.waited
console.log(
  `dependents: a member's end with a job after its array of ${small}: ${a.waited.toFixed(0)} us (nobody waiting: ${a.alone.toFixed(0)} us)`,
)
console.log(
  `dependents: the same, array of ${large}: ${b.waited.toFixed(0)} us (nobody waiting: ${b.alone.toFixed(0)} us)`,
)
console.log(
  `dependents: ${large} against ${small}: ${ratio.toFixed(2)}x (target <= ${TARGET}) ${ratio <= TARGET ? 'PASS' : 'MISS'}`,
)
