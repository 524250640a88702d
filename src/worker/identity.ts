import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { GridError } from '../errors'
import { newId } from '../protocol/ids'
import { newSigningKey, type SigningKey } from '../protocol/receipt'

const Entry = z.object({ id: z.string(), publicKey: z.string(), secretKey: z.string() })
const File = z.record(z.string(), z.union([z.string(), Entry]))

/** A worker's stable identity: its id and Ed25519 key pair. */
export interface WorkerIdentity {
  id: string
  key: SigningKey
}

/**
 * The identity of the worker called `name` on this machine, kept in `$GRIDX_HOME/worker.json`
 * (mode 0600), made on first start. The coordinator pins the public key to the id.
 */
export function workerIdentity(home: string, name: string): WorkerIdentity {
  const path = join(home, 'worker.json')
  let all: z.infer<typeof File> = {}
  if (existsSync(path)) {
    const parsed = File.safeParse(JSON.parse(readFileSync(path, 'utf8')))
    if (!parsed.success) {
      throw new GridError(
        'bad_worker_file',
        `${path} is damaged: move it away to start as a new worker (its key cannot be recovered)`,
      )
    }
    all = parsed.data
  }
  const known = all[name]
  if (known && typeof known !== 'string')
    return { id: known.id, key: { publicKey: known.publicKey, secretKey: known.secretKey } }
  // A worker id from before keys existed keeps its id and gets its first key.
  const id = typeof known === 'string' ? known : `w${newId()}`
  const key = newSigningKey()
  all[name] = { id, ...key }
  mkdirSync(home, { recursive: true, mode: 0o700 })
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 })
  chmodSync(tmp, 0o600)
  renameSync(tmp, path)
  return { id, key }
}
