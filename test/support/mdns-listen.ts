// Run inside a lab namespace by test/e2e/discovery.test.ts: joins the mDNS group on the given
// interface address and prints, one JSON line each, the coordinators every packet announces
// (a goodbye is one with ttl 0), until killed.
import { createSocket } from 'node:dgram'
import { MDNS_GROUP, MDNS_PORT, parseAdverts } from '../../src/protocol/lan'

const address = process.argv[2]!
const socket = createSocket({ type: 'udp4', reuseAddr: true })
socket.on('message', (msg, from) => {
  for (const c of parseAdverts(msg)) console.log(JSON.stringify({ from: from.address, ...c }))
})
socket.bind(MDNS_PORT, () => {
  socket.addMembership(MDNS_GROUP, address)
  console.log('listening')
})
