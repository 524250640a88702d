import type { SQL } from 'bun'
import type { Bus } from '../types'
import { notifyBatcher } from './notify-batch'

/** The one channel every coordinator of a grid listens on. */
const CHANNEL = 'gridx_events'

/** PostgreSQL's limit on a NOTIFY payload is 8,000 bytes; messages stay well under it. */
export const MAX_MESSAGE_BYTES = 7_500

/**
 * LISTEN/NOTIFY between the coordinators sharing a database. Bun.SQL listens on a connection of
 * its own and, when it drops, reconnects and listens again: `resync` then runs, since
 * notifications sent meanwhile are lost.
 */
export function pgBus(client: SQL): Bus {
  const notify = notifyBatcher(client, CHANNEL)
  return {
    shared: true,
    publish: async (message) => {
      if (Buffer.byteLength(message) > MAX_MESSAGE_BYTES) {
        throw new Error(`a grid message of ${Buffer.byteLength(message)} bytes is over ${MAX_MESSAGE_BYTES}`)
      }
      await notify(message)
    },
    subscribe: async (receive, resync) => {
      let first = true
      await client.listen(CHANNEL, receive, () => {
        if (!first) resync()
        first = false
      })
    },
  }
}
