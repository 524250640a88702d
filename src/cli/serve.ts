import { join } from 'node:path'
import type { CommandModule } from 'yargs'
import { loadConfig } from '../config'
import { parseDuration } from '../protocol/units'
import { note } from './options'

type Flags = {
  host?: string
  httpPort?: number
  wsPort?: number
  dataDir?: string
  leaseTimeout?: string
  heartbeat?: string
}

/** Resolves when the process is asked to stop. */
export function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve(sig))
  })
}

/** `gridx serve`: run the coordinator until SIGINT/SIGTERM. */
export async function serve(flags: Flags, until: Promise<string> = stopSignal()): Promise<number> {
  const config = loadConfig(flags)
  const dataDir = flags.dataDir ?? config.file.dataDir ?? join(config.home, 'coordinator')
  const host = flags.host ?? config.file.host ?? '0.0.0.0'
  const leaseMs = flags.leaseTimeout ? parseDuration(flags.leaseTimeout, '--lease-timeout') : undefined
  const heartbeatMs = flags.heartbeat ? parseDuration(flags.heartbeat, '--heartbeat') : undefined
  const { startCoordinator } = await import('../coordinator/server')
  const c = startCoordinator({
    host,
    httpPort: config.httpPort,
    wsPort: config.wsPort,
    dataDir,
    settings: {
      ...(leaseMs ? { leaseMs } : {}),
      ...(heartbeatMs ? { heartbeatMs, silentMs: heartbeatMs * 4 } : {}),
    },
  })
  note(
    `gridx coordinator listening: API http://${host}:${c.httpPort} (GET /health), workers ws://${host}:${c.wsPort}/ws/worker, data in ${dataDir}`,
  )
  if (host === '127.0.0.1' || host === 'localhost' || host === '::1') {
    note('note: bound to loopback only; workers on other machines cannot connect (use --host 0.0.0.0)')
  }
  const sig = await until
  note(`received ${sig}; stopping the coordinator`)
  await c.stop()
  note('coordinator stopped')
  return 0
}

/** yargs wiring of `gridx serve`. */
export function serveCommand(setExit: (code: number) => void): CommandModule<object, Flags> {
  return {
    command: 'serve',
    describe: 'run the coordinator: HTTP API, worker WebSocket, scheduler',
    builder: (y) =>
      y
        .option('host', { type: 'string', describe: 'address to bind (default 0.0.0.0: all interfaces)' })
        .option('http-port', {
          type: 'number',
          describe: 'HTTP API port (env GRIDX_HTTP_PORT, default 8081; 0 = any free)',
        })
        .option('ws-port', {
          type: 'number',
          describe: 'worker WebSocket port (env GRIDX_WS_PORT, default 8080; 0 = any free)',
        })
        .option('data-dir', {
          type: 'string',
          describe: 'where the database lives (default $GRIDX_HOME/coordinator)',
        })
        .option('lease-timeout', {
          type: 'string',
          describe: 'how long a job lease lives without heartbeats (default 30s)',
        })
        .option('heartbeat', { type: 'string', describe: 'how often workers heartbeat (default 5s)' })
        .example('$0 serve', 'serve on 0.0.0.0:8081 (API) and :8080 (workers)')
        .example('$0 serve --http-port 9081 --ws-port 9080 --data-dir /var/lib/gridx', ''),
    handler: async (a) => setExit(await serve(a)),
  }
}
