import type { SQL } from 'bun'

/**
 * $1 the channel, $2 the messages as a JSON array: one NOTIFY each, in order, in one statement.
 * PostgreSQL delivers a transaction's notifications in the order they were made.
 */
const NOTIFY_ALL = `SELECT pg_notify($1::text, m.v) FROM jsonb_array_elements_text($2::jsonb) WITH ORDINALITY AS m(v, n) ORDER BY m.n`

interface Pending {
  message: string
  done: (err?: unknown) => void
}

/**
 * Sends the messages published in one turn of the event loop as one statement instead of one
 * round trip each (a job's assignment, start and end are each a message). PostgreSQL folds
 * identical notifications of one transaction into one, so a message already in a batch starts
 * the next: every message published is delivered, as with one NOTIFY each, and in the order published.
 */
export function notifyBatcher(client: SQL, channel: string): (message: string) => Promise<void> {
  let queue: Pending[] = []
  // One statement in flight at a time: batches go out in the order they were published.
  let tail: Promise<void> = Promise.resolve()
  const send = async (batch: Pending[]) => {
    try {
      // An array, not its JSON text: Bun encodes a string given for a jsonb parameter as a JSON string.
      if (batch.length === 1) await client.notify(channel, batch[0]!.message)
      else await client.unsafe(NOTIFY_ALL, [channel, batch.map((p) => p.message)])
      for (const p of batch) p.done()
    } catch (err) {
      for (const p of batch) p.done(err)
    }
  }
  const flush = () => {
    const all = queue
    queue = []
    let batch: Pending[] = []
    let seen = new Set<string>()
    for (const p of all) {
      if (seen.has(p.message)) {
        const full = batch
        tail = tail.then(() => send(full))
        batch = []
        seen = new Set()
      }
      batch.push(p)
      seen.add(p.message)
    }
    if (batch.length > 0) tail = tail.then(() => send(batch))
  }
  return (message) =>
    new Promise<void>((resolve, reject) => {
      if (queue.length === 0) setImmediate(flush)
      queue.push({
        message,
        done: (err) =>
          err === undefined
            ? resolve()
            : reject(err instanceof Error ? err : new Error(`notify failed: ${JSON.stringify(err)}`)),
      })
    })
}
