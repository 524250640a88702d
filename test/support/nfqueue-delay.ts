/**
 * Adds a fixed delay to packets, for kernels built without `tc netem` (sch_netem): an iptables
 * rule hands packets to NFQUEUE, this process holds each one for the delay and then accepts it.
 * It talks nfnetlink_queue over a raw netlink socket through libc (bun:ffi), so it needs no
 * library. Run it in the namespace whose packets it delays, as root:
 *
 *   ip netns exec NS bun test/support/nfqueue-delay.ts QUEUE DELAY_MS
 *   ip netns exec NS iptables -A OUTPUT -o eth0 -j NFQUEUE --queue-num QUEUE --queue-bypass
 *
 * It prints "ready" once bound, and stops on SIGTERM (queued packets are then dropped or, with
 * --queue-bypass, accepted when the queue goes away).
 */
import { dlopen, FFIType } from 'bun:ffi'

const AF_NETLINK = 16
const SOCK_RAW = 3
const SOCK_NONBLOCK = 0o4000
const NETLINK_NETFILTER = 12
const NFNL_SUBSYS_QUEUE = 3
const NFQNL_MSG_PACKET = 0
const NFQNL_MSG_VERDICT = 1
const NFQNL_MSG_CONFIG = 2
const NLM_F_REQUEST = 1
const NLMSG_ERROR = 2
const NFQA_PACKET_HDR = 1
const NFQA_VERDICT_HDR = 2
const NFQA_CFG_CMD = 1
const NFQA_CFG_PARAMS = 2
const NFQNL_CFG_CMD_BIND = 1
const NFQNL_COPY_META = 1
const NF_ACCEPT = 1

const libc = dlopen('libc.so.6', {
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  send: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
  recv: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
}).symbols

function attr(type: number, payload: Uint8Array): Uint8Array {
  const len = 4 + payload.length
  const out = new Uint8Array((len + 3) & ~3)
  const v = new DataView(out.buffer)
  v.setUint16(0, len, true)
  v.setUint16(2, type, true)
  out.set(payload, 4)
  return out
}

/** One netlink message to the queue subsystem: header, nfgenmsg, attributes. */
function message(msgType: number, queue: number, attrs: Uint8Array[]): Uint8Array {
  const body = attrs.reduce((n, a) => n + a.length, 0)
  const out = new Uint8Array(16 + 4 + body)
  const v = new DataView(out.buffer)
  v.setUint32(0, out.length, true)
  v.setUint16(4, (NFNL_SUBSYS_QUEUE << 8) | msgType, true)
  v.setUint16(6, NLM_F_REQUEST, true)
  v.setUint8(16, 0) // AF_UNSPEC
  v.setUint8(17, 0) // NFNETLINK_V0
  v.setUint16(18, queue, false)
  let at = 20
  for (const a of attrs) {
    out.set(a, at)
    at += a.length
  }
  return out
}

function be(bytes: number[]): Uint8Array {
  return new Uint8Array(bytes)
}

function main(): void {
  const queue = Number(process.argv[2] ?? '0')
  const delayMs = Number(process.argv[3] ?? '100')
  const fd = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK, NETLINK_NETFILTER)
  if (fd < 0) throw new Error('cannot open a netfilter netlink socket (need root and NFQUEUE support)')
  const addr = new Uint8Array(12)
  new DataView(addr.buffer).setUint16(0, AF_NETLINK, true)
  if (libc.bind(fd, addr, addr.length) !== 0) throw new Error('cannot bind the netlink socket')
  const send = (m: Uint8Array) => {
    if (Number(libc.send(fd, m, m.length, 0)) !== m.length) throw new Error('netlink send failed')
  }
  // Bind the queue, then ask for packet metadata only (the id is all a verdict needs).
  send(message(NFQNL_MSG_CONFIG, queue, [attr(NFQA_CFG_CMD, be([NFQNL_CFG_CMD_BIND, 0, 0, 0]))]))
  send(message(NFQNL_MSG_CONFIG, queue, [attr(NFQA_CFG_PARAMS, be([0, 0, 0, 0, NFQNL_COPY_META]))]))
  const held: { id: number; due: number }[] = []
  const buf = new Uint8Array(65536)
  const view = new DataView(buf.buffer)
  let stopping = false
  process.on('SIGTERM', () => {
    stopping = true
  })
  console.log('ready')
  const tick = () => {
    for (;;) {
      const n = Number(libc.recv(fd, buf, buf.length, 0))
      if (n <= 0) break
      for (let at = 0; at + 16 <= n;) {
        const len = view.getUint32(at, true)
        const type = view.getUint16(at + 4, true)
        if (type === NLMSG_ERROR && view.getInt32(at + 16, true) !== 0) {
          throw new Error(`the kernel refused the queue config (errno ${-view.getInt32(at + 16, true)})`)
        }
        if (type === ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) {
          for (let a = at + 20; a + 4 <= at + len;) {
            const alen = view.getUint16(a, true)
            if ((view.getUint16(a + 2, true) & 0x7fff) === NFQA_PACKET_HDR) {
              held.push({ id: view.getUint32(a + 4, false), due: Date.now() + delayMs })
            }
            a += (alen + 3) & ~3
            if (alen < 4) break
          }
        }
        at += (len + 3) & ~3
        if (len < 16) break
      }
    }
    const now = Date.now()
    while (held.length && held[0]!.due <= now) {
      const { id } = held.shift()!
      const verdict = new Uint8Array(8)
      new DataView(verdict.buffer).setUint32(0, NF_ACCEPT, false)
      new DataView(verdict.buffer).setUint32(4, id, false)
      send(message(NFQNL_MSG_VERDICT, queue, [attr(NFQA_VERDICT_HDR, verdict)]))
    }
    if (stopping) process.exit(0)
    setTimeout(tick, 2)
  }
  tick()
}

main()
