import { createSocket, type Socket } from 'node:dgram'
import { hostname, networkInterfaces } from 'node:os'
import {
  ADVERT_TTL_S,
  encodeResponse,
  hostLabel,
  type LanAdvert,
  MAX_PACKET_BYTES,
  MDNS_GROUP,
  MDNS_PORT,
  questionsForUs,
} from '../protocol/lan'
import { advertisedAddresses, type Interfaces, multicastInterfaces, onLink } from '../protocol/lan-net'

/** What `startAdvertising` needs: the coordinator's facts, and where to say what happened. */
export interface AdvertiseOptions {
  advert: Omit<LanAdvert, 'host' | 'addresses'>
  /** The address `gridx serve` is bound to: a specific one is the only one advertised. */
  bind: string
  log: (line: string) => void
  interfaces?: () => Interfaces
}

/** A running advertisement; `stop` sends the goodbye and closes the socket. */
export interface Advertiser {
  /** The records' facts, for the start-up banner; undefined when discovery could not start. */
  advert: LanAdvert | undefined
  stop(): Promise<void>
}

const BIND_TIMEOUT_MS = 2000
const SEND_TIMEOUT_MS = 500
/** RFC 6762 section 6: a record is multicast at most once a second. */
const MULTICAST_GAP_MS = 1000
/** Unicast answers a second, at most: enough for a room of browsers, too few to flood anyone. */
const UNICAST_PER_S = 50

const off: Advertiser = { advert: undefined, stop: () => Promise.resolve() }

function bind(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('bind timed out')), BIND_TIMEOUT_MS)
    socket.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    socket.bind({ port: MDNS_PORT, exclusive: false }, () => {
      clearTimeout(timer)
      socket.removeAllListeners('error')
      resolve()
    })
  })
}

function send(socket: Socket, buf: Buffer, port: number, address: string): Promise<Error | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(new Error('send timed out')), SEND_TIMEOUT_MS)
    try {
      socket.send(buf, port, address, (err) => {
        clearTimeout(timer)
        resolve(err ?? undefined)
      })
    } catch (err) {
      clearTimeout(timer)
      resolve(err as Error)
    }
  })
}

/**
 * Advertises the coordinator with mDNS/DNS-SD (`_gridx._tcp`): answers queries, announces at
 * start and says goodbye (TTL 0) at stop. Discovery is a convenience: when multicast cannot be
 * used (no interface, port 5353 held without sharing, no permission) it logs one line and the
 * coordinator goes on without it. Never throws.
 */
export async function startAdvertising(o: AdvertiseOptions): Promise<Advertiser> {
  const ifs = (o.interfaces ?? networkInterfaces)()
  const loopback = ['127.0.0.1', 'localhost', '::1'].includes(o.bind)
  const wildcard = o.bind === '0.0.0.0' || o.bind === '::'
  const all = multicastInterfaces(ifs)
  const lanIfs = wildcard ? all : all.filter((i) => i.address === o.bind)
  const addresses = wildcard ? advertisedAddresses(ifs) : [o.bind]
  const why = loopback
    ? 'it is bound to loopback only'
    : lanIfs.length === 0
      ? 'no network interface with an IPv4 address to multicast on'
      : undefined
  if (why) {
    o.log(`LAN discovery: not advertising (${why}); clients need --coordinator`)
    return off
  }
  const advert: LanAdvert = { ...o.advert, host: `${hostLabel(hostname())}.local`, addresses }
  const socket = createSocket({ type: 'udp4', reuseAddr: true })
  try {
    await bind(socket)
    socket.setMulticastTTL(255)
    socket.setMulticastLoopback(true)
  } catch (err) {
    socket.close()
    const code = (err as NodeJS.ErrnoException).code
    const hint =
      code === 'EADDRINUSE'
        ? ' (another mDNS responder holds it without sharing)'
        : code === 'EACCES' || code === 'EPERM'
          ? ' (not permitted here)'
          : ''
    o.log(
      `LAN discovery: not advertising: cannot listen on UDP port ${MDNS_PORT}${hint}: ${(err as Error).message}; clients need --coordinator or the join line`,
    )
    return off
  }
  const joined = lanIfs.filter((i) => {
    try {
      socket.addMembership(MDNS_GROUP, i.address)
      return true
    } catch {
      return false
    }
  })
  if (joined.length === 0) {
    socket.close()
    o.log(`LAN discovery: not advertising: no interface could join the mDNS group ${MDNS_GROUP}`)
    return off
  }
  let warned = false
  const warnOnce = (err: Error) => {
    if (warned) return
    warned = true
    o.log(
      `LAN discovery: sending failed (${err.message}); is UDP ${MDNS_PORT} blocked? The coordinator goes on`,
    )
  }
  socket.on('error', warnOnce)
  let closed = false
  // Sends on every interface in turn; each send completes before the interface is switched.
  const multicast = async (buf: Buffer) => {
    for (const i of joined) {
      if (closed) return
      try {
        socket.setMulticastInterface(i.address)
      } catch (err) {
        warnOnce(err as Error)
        continue
      }
      const err = await send(socket, buf, MDNS_PORT, MDNS_GROUP)
      if (err) warnOnce(err)
    }
  }
  let lastMulticast = 0
  let window = { start: 0, count: 0 }
  socket.on('message', (msg, from) => {
    if (closed || msg.length > MAX_PACKET_BYTES) return
    const asked = questionsForUs(msg, advert)
    if (!asked) return
    const now = Date.now()
    if (from.port !== MDNS_PORT) {
      // A one-shot query from an ephemeral port (how `gridx work` browses) is answered to it.
      if (!onLink(from.address, joined)) return
      if (now - window.start >= 1000) window = { start: now, count: 0 }
      if (++window.count > UNICAST_PER_S) return
      void send(socket, encodeResponse(advert, ADVERT_TTL_S, asked), from.port, from.address).then(
        (err) => err && warnOnce(err),
      )
      return
    }
    if (now - lastMulticast < MULTICAST_GAP_MS) return
    lastMulticast = now
    void multicast(encodeResponse(advert, ADVERT_TTL_S))
  })
  // RFC 6762 section 8.3: announce at least twice, a second apart.
  const announce = encodeResponse(advert, ADVERT_TTL_S)
  await multicast(announce)
  const timers = [1000, 3000].map((ms) => setTimeout(() => void multicast(announce), ms))
  for (const t of timers) t.unref()
  o.log(
    `LAN discovery: advertising '${advert.instance}' as ${'_gridx._tcp'} on ${joined.map((i) => `${i.name} (${i.address})`).join(', ')} (UDP ${MDNS_PORT}; --no-advertise to stop)`,
  )
  return {
    advert,
    stop: async () => {
      if (closed) return
      for (const t of timers) clearTimeout(t)
      await multicast(encodeResponse(advert, 0))
      closed = true
      socket.close()
    },
  }
}
