import { Database } from 'bun:sqlite'
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { drizzle } from 'drizzle-orm/bun-sqlite'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as schema from '../../src/db/sqlite/schema'
import { WriteBatch } from '../../src/coordinator/store/sqlite/batch'
import { isDiskFull } from '../../src/coordinator/disk'
import { rejection } from '../support/store-fixtures'

// Group commit: the changes of one turn share one transaction, and nobody hears an answer before
// the transaction is on disk. A change that throws is undone alone: its batch runs again, each
// change in a savepoint of its own. Checked on a real WAL file, read
// back through a second connection the way another process would see it.

let dir: string
let sqlite: Database
let other: Database
let batch: WriteBatch
/** COMMIT statements the batch ran. */
let commits: number
/** SAVEPOINT statements the batch ran. */
let savepoints: number

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gridx-batch-'))
  const path = join(dir, 'batch.db')
  sqlite = new Database(path, { create: true, strict: true })
  sqlite.run('PRAGMA journal_mode = WAL')
  sqlite.run('PRAGMA foreign_keys = ON')
  sqlite.run('CREATE TABLE notes (id TEXT PRIMARY KEY, n INTEGER NOT NULL CHECK (n >= 0))')
  sqlite.run('CREATE TABLE parents (id TEXT PRIMARY KEY)')
  // Checked at COMMIT, not at the INSERT: what makes a commit itself fail, as a full disk would.
  sqlite.run(
    'CREATE TABLE children (id TEXT PRIMARY KEY, parent TEXT REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED)',
  )
  // Counts the commits and savepoints the batch makes: its statements are prepared once, here.
  commits = 0
  savepoints = 0
  const prepare = sqlite.prepare.bind(sqlite)
  sqlite.prepare = ((sql: string) => {
    const statement = prepare(sql)
    if (sql !== 'COMMIT' && !sql.startsWith('SAVEPOINT')) return statement
    const run = statement.run.bind(statement)
    statement.run = (...args: []) => {
      if (sql === 'COMMIT') commits++
      else savepoints++
      return run(...args)
    }
    return statement
  }) as typeof sqlite.prepare
  batch = new WriteBatch(drizzle(sqlite, { schema }), sqlite)
  other = new Database(path, { readonly: true })
})
afterEach(() => {
  other.close()
  sqlite.close()
  rmSync(dir, { recursive: true, force: true })
})

/** The notes another connection sees now, by id. */
const seen = () =>
  other
    .query<{ id: string }, []>('SELECT id FROM notes ORDER BY id')
    .all()
    .map((r) => r.id)

/** A change that writes note `id` and answers `id`. */
const note =
  (id: string, n = 1) =>
  () => {
    sqlite.run('INSERT INTO notes (id, n) VALUES (?, ?)', [id, n])
    return id
  }

describe('one turn, one transaction', () => {
  test('the changes asked for in one turn commit together, once', async () => {
    const outside: string[][] = []
    const changes = ['a', 'b', 'c', 'd'].map((id) =>
      batch.run(() => {
        // Inside the shared transaction: the earlier changes are there, invisible to anyone else.
        expect(sqlite.inTransaction).toBe(true)
        outside.push(seen())
        return note(id)()
      }),
    )
    expect(await Promise.all(changes)).toEqual(['a', 'b', 'c', 'd'])
    expect(commits).toBe(1)
    // Nothing threw: no savepoint was taken.
    expect(savepoints).toBe(0)
    expect(outside).toEqual([[], [], [], []])
    expect(seen()).toEqual(['a', 'b', 'c', 'd'])
    // The next turn is the next transaction.
    await Promise.all([batch.run(note('e')), batch.run(note('f'))])
    expect(commits).toBe(2)
    expect(sqlite.inTransaction).toBe(false)
  })
})

describe('changes of a kind', () => {
  test('run together where the first of them came; the others keep their places, and each caller hears its own answer', async () => {
    const ran: string[] = []
    const change =
      (id: string, fail = false) =>
      () => {
        ran.push(id)
        note(id)()
        if (fail) throw new Error(`refused ${id}`)
        return id
      }
    const answers = [
      batch.run(change('x1'), 'x'),
      batch.run(change('plain1')),
      batch.run(change('y1'), 'y'),
      batch.run(change('x2', true), 'x'),
      batch.run(change('plain2')),
      batch.run(change('x3'), 'x'),
      batch.run(change('y2'), 'y'),
    ].map((p) => p.then(String, (err: unknown) => `rejected: ${(err as Error).message}`))
    expect(await Promise.all(answers)).toEqual([
      'x1',
      'plain1',
      'y1',
      'rejected: refused x2',
      'plain2',
      'x3',
      'y2',
    ])
    // Until x2 threw, then the whole batch again, each change in its savepoint.
    expect(ran).toEqual(['x1', 'x2', 'x1', 'x2', 'x3', 'plain1', 'y1', 'y2', 'plain2'])
    expect(savepoints).toBe(7)
    expect(commits).toBe(1)
    // The refused one undone alone, inside its group.
    expect(seen()).toEqual(['plain1', 'plain2', 'x1', 'x3', 'y1', 'y2'])
  })
})

describe("a kind's after step", () => {
  test('runs once after the changes of its kind, in their transaction, before the changes that came later', async () => {
    const ran: string[] = []
    batch.afterKind(
      'x',
      () => {
        expect(sqlite.inTransaction).toBe(true)
        ran.push('after-x')
        note('x-after')()
      },
      () => ran.push('discard-x'),
    )
    const answers = [
      batch.run(() => (ran.push('x1'), note('x1')()), 'x'),
      batch.run(() => (ran.push('p'), note('p')())),
      batch.run(() => (ran.push('x2'), note('x2')()), 'x'),
    ]
    expect(await Promise.all(answers)).toEqual(['x1', 'p', 'x2'])
    expect(ran).toEqual(['x1', 'x2', 'after-x', 'p'])
    expect(commits).toBe(1)
    expect(seen()).toEqual(['p', 'x-after', 'x1', 'x2'])
  })

  test('that throws: nothing of the batch is written, every change hears why, and what was left is discarded', async () => {
    let discarded = 0
    batch.afterKind(
      'x',
      () => note('x-after', -1)(),
      () => discarded++,
    )
    const answers = [batch.run(note('a')), batch.run(note('x1'), 'x')].map((p) =>
      p.then(String, (err: unknown) => `rejected: ${String(err)}`),
    )
    const [a, x1] = await Promise.all(answers)
    expect(a).toContain('CHECK constraint failed')
    expect(x1).toContain('CHECK constraint failed')
    expect(discarded).toBe(1)
    expect(seen()).toEqual([])
    expect(sqlite.inTransaction).toBe(false)
    // The next batch commits as usual.
    expect(await batch.run(note('b'))).toBe('b')
    expect(seen()).toEqual(['b'])
  })
})

describe('a change that throws', () => {
  test("runs its batch again from nothing: the first run's writes and what it left for an after step are gone, nothing is made twice", async () => {
    let pending: string[] = []
    let discarded = 0
    batch.afterKind(
      'x',
      () => {
        note(`after-${pending.join('+')}`)()
        pending = []
      },
      () => {
        pending = []
        discarded++
      },
    )
    const x = (id: string) => () => {
      pending.push(id)
      return note(id)()
    }
    const answers = [
      batch.run(x('x1'), 'x'),
      batch.run(x('x2'), 'x'),
      // After the kind's after step already ran in the first run.
      batch.run(() => {
        note('bad')()
        throw new Error('refused')
      }),
      batch.run(note('p')),
    ].map((p) => p.then(String, (err: unknown) => `rejected: ${(err as Error).message}`))
    expect(await Promise.all(answers)).toEqual(['x1', 'x2', 'rejected: refused', 'p'])
    expect(discarded).toBe(1)
    expect(commits).toBe(1)
    expect(seen()).toEqual(['after-x1+x2', 'p', 'x1', 'x2'])
    // The next batch takes its savepoints from the start (no run thrown away); once one ran
    // clean, the batches after it run plainly again.
    savepoints = 0
    const ran: string[] = []
    const once = (id: string) => () => (ran.push(id), note(id)())
    expect(await Promise.all([batch.run(once('q1')), batch.run(once('q2'))])).toEqual(['q1', 'q2'])
    expect(ran).toEqual(['q1', 'q2'])
    expect(savepoints).toBe(2)
    savepoints = 0
    expect(await batch.run(note('r'))).toBe('r')
    expect(savepoints).toBe(0)
  })

  test('is undone alone: its writes rolled back, its promise rejected with its error, the others kept', async () => {
    const fault = new Error('settlement refused')
    const first = batch.run(note('a'))
    const failing = batch.run(() => {
      note('b')()
      note('b2')()
      throw fault
    })
    // A constraint the database itself refuses, after a write of the same change that went through.
    const refused = batch.run(() => {
      note('c')()
      note('c2', -1)()
    })
    const last = batch.run(note('d'))
    expect(await first).toBe('a')
    expect(await rejection(failing)).toBe(fault)
    expect(String(await rejection(refused))).toContain('CHECK constraint failed')
    expect(await last).toBe('d')
    expect(commits).toBe(1)
    expect(seen()).toEqual(['a', 'd'])
  })
})

describe('the answer', () => {
  test('comes only after the commit: nothing is visible before, everything is when it resolves', async () => {
    let visibleAtAnswer: string[] | undefined
    const answered = batch.run(note('a')).then((v) => {
      visibleAtAnswer = seen()
      return v
    })
    // Written at the end of the turn, not when asked.
    await Promise.resolve()
    expect(seen()).toEqual([])
    expect(visibleAtAnswer).toBeUndefined()
    expect(await answered).toBe('a')
    expect(visibleAtAnswer).toEqual(['a'])
  })
})

describe('a change that loses the transaction', () => {
  test('a full disk rejects the whole batch with its own error, once: nothing written, nothing run again', async () => {
    const pages = sqlite.query<{ n: number }, []>('SELECT page_count AS n FROM pragma_page_count()').get()!.n
    // The database may not grow: any new page is SQLITE_FULL, as on a full disk.
    sqlite.run(`PRAGMA max_page_count = ${pages}`)
    let runs = 0
    const changes = [
      batch.run(note('a')),
      batch.run(() => {
        runs++
        sqlite.run('INSERT INTO notes (id, n) VALUES (?, 1)', [`big-${'x'.repeat(200_000)}`])
      }),
      batch.run(note('b')),
    ]
    const errors = await Promise.all(changes.map(rejection))
    for (const err of errors) expect(isDiskFull(err)).toBe(true)
    expect(runs).toBe(1)
    expect(sqlite.inTransaction).toBe(false)
    sqlite.run('PRAGMA max_page_count = 1073741823')
    expect(seen()).toEqual([])
    expect(await batch.run(note('c'))).toBe('c')
  })

  test("a change after which SQLite rolled back by itself fails the batch with its error, not a savepoint's", async () => {
    const lost = new Error('disk I/O error')
    for (const guarded of [false, true]) {
      if (guarded) {
        // A batch in which a change threw: the next takes savepoints from the start.
        await rejection(
          batch.run(() => {
            throw new Error('refused')
          }),
        )
      }
      const changes = [
        batch.run(note(`a-${guarded}`)),
        batch.run(() => {
          sqlite.run('ROLLBACK')
          throw lost
        }),
      ]
      expect(await Promise.all(changes.map(rejection))).toEqual([lost, lost])
      expect(sqlite.inTransaction).toBe(false)
      expect(seen()).toEqual([])
    }
  })
})

describe('a commit that fails', () => {
  test('rejects every change of the batch and leaves nothing written; the next batch commits', async () => {
    const changes = [
      batch.run(note('a')),
      // Runs without an error; the deferred foreign key fails the COMMIT of the whole batch.
      batch.run(() => sqlite.run("INSERT INTO children (id, parent) VALUES ('orphan', 'nobody')")),
      batch.run(note('b')),
    ]
    const errors = await Promise.all(changes.map(rejection))
    for (const err of errors) expect(String(err)).toContain('FOREIGN KEY constraint failed')
    // The same error for each: they were one transaction.
    expect(new Set(errors).size).toBe(1)
    expect(sqlite.inTransaction).toBe(false)
    expect(seen()).toEqual([])
    expect(sqlite.query('SELECT count(*) AS n FROM children').get()).toEqual({ n: 0 })
    expect(await batch.run(note('c'))).toBe('c')
    expect(seen()).toEqual(['c'])
  })

  test('a transaction that cannot begin rejects every change instead of throwing from the timer', async () => {
    const changes = [batch.run(note('a')), batch.run(note('b'))]
    // Someone else's transaction is open on the connection when the batch's turn comes.
    sqlite.run('BEGIN')
    const errors = await Promise.all(changes.map(rejection))
    for (const err of errors) expect(String(err)).toContain('within a transaction')
    expect(sqlite.inTransaction).toBe(false)
    expect(seen()).toEqual([])
    expect(await batch.run(note('c'))).toBe('c')
    expect(seen()).toEqual(['c'])
  })
})
