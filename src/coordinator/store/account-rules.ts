import type { WorkerRow } from '../../db/sqlite/schema'
import { GridError } from '../../errors'

/*
 * What accounts and workers may do, whatever engine stores them: one name per account, a worker
 * id owned by the account that first used it and pinned to its first signing key.
 */

/** The 409 for a name already taken. */
export function userExists(name: string): GridError {
  return new GridError('user_exists', `user '${name}' already exists: log in instead`, { status: 409 })
}

/** Why a worker id may not connect as this account with this key, if it may not. */
export function workerRefusal(
  existing: WorkerRow | undefined,
  id: string,
  ownerId: string,
  publicKey: string | null,
): GridError | undefined {
  if (existing && existing.ownerId !== ownerId) {
    return new GridError('worker_owned', `worker id ${id} belongs to another account`, { status: 403 })
  }
  if (existing?.publicKey && publicKey !== existing.publicKey) {
    return new GridError(
      'worker_key_mismatch',
      `worker ${id} connected with a different signing key than the one pinned at its first connection: if its $GRIDX_HOME was reset, start it under a new --name`,
      { status: 403 },
    )
  }
  return undefined
}

/** The 404 for a grant to a user that does not exist. */
export function userNotFound(name: string): GridError {
  return new GridError('user_not_found', `no user '${name}'`, { status: 404 })
}
