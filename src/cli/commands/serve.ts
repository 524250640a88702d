import type { CommandModule } from 'yargs'
import type { Flags } from '../serve'

/** The command's code, loaded only when it runs. */
const load = () => import('../serve')

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
        .option('tls-cert', {
          type: 'string',
          describe:
            'serve HTTPS and WSS with this PEM certificate (chain) on both ports (env GRIDX_TLS_CERT)',
        })
        .option('tls-key', {
          type: 'string',
          describe: "the certificate's PEM private key (env GRIDX_TLS_KEY)",
        })
        .option('self-signed', {
          type: 'boolean',
          describe: 'quick start: make (once) and serve a self-signed certificate kept in the data dir',
        })
        .option('tls-san', {
          type: 'string',
          array: true,
          describe: 'extra host names or addresses for the --self-signed certificate',
        })
        .option('public-url', {
          type: 'string',
          describe:
            'the address users and workers reach this coordinator at, e.g. behind a proxy (env GRIDX_PUBLIC_URL)',
        })
        .option('database', {
          type: 'string',
          describe:
            "the grid's shared PostgreSQL, postgres://USER:PASSWORD@HOST:PORT/DB: every coordinator started with it is one grid (env GRIDX_DATABASE_URL; default: SQLite in the data dir)",
        })
        .option('blob-dir', {
          type: 'string',
          describe:
            'keep job files (inputs, /out archives) in this directory; with several coordinators, one they all mount (env GRIDX_BLOB_DIR; default: in the database when it is PostgreSQL, else DATA_DIR/blobs)',
        })
        .option('lease-timeout', {
          type: 'string',
          describe: 'how long a job lease lives without heartbeats (default 30s)',
        })
        .option('heartbeat', {
          type: 'string',
          describe: 'how often workers heartbeat, the shortest interval (default 5s)',
        })
        .option('max-heartbeats', {
          type: 'string',
          describe:
            'heartbeats per second all workers together are kept under: past it each worker is told to beat less often, up to every 60s (env GRIDX_MAX_HEARTBEATS, default 500)',
        })
        .option('max-attempts', {
          type: 'number',
          describe: 'tries a job gets when workers are lost under it (default 3)',
        })
        .option('grant', { type: 'string', describe: 'credits a new account starts with (default 100)' })
        .option('price', { type: 'string', describe: 'credits per CPU-minute of compute (default 1)' })
        .option('log-limit', {
          type: 'string',
          describe: 'most stdout+stderr per job, e.g. 16m; past it the job is stopped (default 16m)',
        })
        .option('max-input', { type: 'string', describe: 'largest input upload per job (default 512m)' })
        .option('max-output', { type: 'string', describe: 'most /out files a job may return (default 512m)' })
        .option('keep-files', {
          type: 'string',
          describe: "how long uploaded inputs, and a job's /out files after it ends, are kept (default 7d)",
        })
        .option('quota', {
          type: 'string',
          describe:
            'storage each user may keep here: uploads and /out files not yet expired (env GRIDX_QUOTA, default 2g)',
        })
        .option('max-array', {
          type: 'string',
          describe: 'the most jobs one --array submission may make (env GRIDX_MAX_ARRAY, default 10000)',
        })
        .option('idle-timeout', {
          type: 'string',
          describe:
            'close HTTP connections idle this long, and give every request body this long before --min-upload-rate applies (default 30s, at most 255s)',
        })
        .option('min-upload-rate', {
          type: 'string',
          describe:
            'slowest average rate per second a request body may arrive at, e.g. 32k; slower ones get 408 (default 32k)',
        })
        .option('admin', {
          type: 'string',
          array: true,
          describe:
            'operator account(s) besides the first registered; existing accounts only, decided at each start',
        })
        .option('signup', {
          type: 'string',
          choices: ['invite', 'open', 'closed'],
          describe:
            "who may create accounts after the first: invite (a code from 'gridx invite'), open (anyone who can reach the port) or closed (env GRIDX_SIGNUP, default invite)",
        })
        .option('advertise', {
          type: 'boolean',
          describe:
            'advertise on the local network (mDNS, UDP 5353) so `gridx work` finds it without an address (default on; --no-advertise or env GRIDX_DISCOVERY=0 to stop)',
        })
        .option('log-format', {
          type: 'string',
          describe:
            'how the log on stdout is written: text (for people) or json (one object per line, for jq and log shippers) (env GRIDX_LOG_FORMAT, default text)',
        })
        .option('log-requests', {
          type: 'boolean',
          describe: 'also log one line per HTTP request: method, path, status, time (env GRIDX_LOG_REQUESTS)',
        })
        .option('metrics-token-file', {
          type: 'string',
          describe:
            "GET /metrics (Prometheus) also takes the token in this file as its bearer token, besides operators' logins (env GRIDX_METRICS_TOKEN_FILE)",
        })
        .example('$0 serve', 'serve on 0.0.0.0:8081 (API) and :8080 (workers)')
        .example('$0 serve --http-port 9081 --ws-port 9080 --data-dir /var/lib/gridx', '')
        .example('$0 serve --tls-cert /etc/gridx/cert.pem --tls-key /etc/gridx/key.pem', 'HTTPS and WSS')
        .example('$0 serve --self-signed', 'HTTPS with a certificate made for this machine')
        .example('$0 serve --signup open', 'anyone who can reach the port may create an account'),
    handler: async (a) => setExit(await (await load()).serve(a)),
  }
}
