import { GridError } from '../errors'

/** Where a coordinator answers: its API base URL and its worker WebSocket URL. */
export interface CoordinatorAddress {
  /** As the user gave it, for messages. */
  input: string
  host: string
  httpUrl: string
  wsUrl: string
  httpPort: number
  wsPort: number
  tls: boolean
  /**
   * The name TLS checks the certificate against (and sends as SNI) when `host` is one IP of a name
   * with several records (see `expandNames`); undefined when `host` is what the user named.
   */
  serverName?: string | undefined
}

const HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/

function bad(input: string, why: string): GridError {
  return new GridError(
    'bad_coordinator',
    `'${input}' is not a coordinator address (${why}): use a host, host:port or URL, e.g. 192.168.1.100, grid.example.org:8081 or https://grid.example.org`,
  )
}

/**
 * Parses `--coordinator` as host, host:port, [v6]:port or an http/https/ws/wss URL.
 * A port given here serves both the API and the worker socket (the HTTP port accepts the
 * upgrade too); without one, `httpPort` and `wsPort` apply.
 */
export function parseCoordinator(
  input: string,
  ports: { httpPort: number; wsPort: number },
): CoordinatorAddress {
  const raw = input.trim()
  if (!raw) throw bad(input, 'it is empty')
  if (/\s/.test(raw)) throw bad(input, 'it contains spaces')
  let text = raw
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(raw)) {
    const colons = (raw.match(/:/g) ?? []).length
    text = colons > 1 && !raw.startsWith('[') ? `http://[${raw}]` : `http://${raw}`
  }
  // Check the port before URL parsing, which would only say "invalid URL" for h:99999.
  const authorityText = (text.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split('/')[0] ?? '').replace(/^.*@/, '')
  const portPart = /:([^:\]]*)$/.exec(authorityText.replace(/^\[[^\]]*\]/, ''))?.[1]
  const port = portPart === undefined ? undefined : Number(portPart)
  if (portPart !== undefined && (!/^\d{1,5}$/.test(portPart) || port! < 1 || port! > 65535)) {
    throw bad(input, 'the port must be 1-65535')
  }
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw bad(input, 'it cannot be read as a URL')
  }
  const scheme = url.protocol.slice(0, -1)
  if (!['http', 'https', 'ws', 'wss'].includes(scheme))
    throw bad(input, `'${scheme}' is not http, https, ws or wss`)
  if (url.username || url.password)
    throw bad(input, 'put credentials in --user/--password, not in the address')
  if (url.search || url.hash) throw bad(input, 'it has a query or fragment')
  const host = url.hostname
  const isV6 = host.startsWith('[')
  if (!host || (!isV6 && !HOST.test(host)))
    throw bad(input, `'${host}' is not a valid host name or IP address`)
  const tls = scheme === 'https' || scheme === 'wss'
  let httpPort = ports.httpPort
  let wsPort = ports.wsPort
  // The port comes from the text, not url.port, which drops a scheme's default (http://h:80).
  if (port !== undefined) {
    httpPort = wsPort = port
  } else if (tls && raw.includes('://')) {
    // An https/wss URL without a port means the standard port, as a reverse proxy serves it.
    httpPort = wsPort = 443
  }
  // A worker URL may name the socket path itself; both URLs are built from the base path.
  const path = url.pathname.replace(/\/+$/, '').replace(/\/ws\/worker$/, '')
  const h = isV6 ? host : host.replace(/\.$/, '')
  return {
    input,
    host: h,
    httpUrl: `${tls ? 'https' : 'http'}://${h}:${httpPort}${path}`,
    wsUrl: `${tls ? 'wss' : 'ws'}://${h}:${wsPort}${path}/ws/worker`,
    httpPort,
    wsPort,
    tls,
  }
}
