/**
 * UDP sockets for BFD (RFC 5881), in the network namespace where the BGP
 * sessions run, opened by a short-lived child and handed over (../handover.ts).
 *
 * - The receive socket listens on port 3784 (single-hop control packets).
 * - A send socket is bound to a source port in 49152–65535 (§4 of RFC 5881)
 *   and sends with TTL (hop limit) 255, so the peer's GTSM check passes.
 *
 * Node's dgram cannot read a received packet's TTL, so the receive-side
 * check (TTL must be 255) is not done: any host that can reach port 3784
 * can send us control packets. They still have to name a session we hold.
 */
import type dgram from 'node:dgram';
import { socketFromChild } from '../handover.js';

export const BFD_CONTROL_PORT = 3784;
export const SOURCE_PORT_MIN = 49152;
export const SOURCE_PORT_MAX = 65535;

export interface UdpBind {
  family: 4 | 6;
  /** Local address to bind (default: every address of the family). */
  address?: string;
  /** 0: a free port in the BFD source range. */
  port: number;
  netns?: string;
}

/**
 * The child's whole program: bind (trying random ports of the source range
 * when asked for port 0), set TTL 255, hand the socket over, exit.
 */
const CHILD = `
const dgram = require('node:dgram');
const [family, address, port, min, max] = process.argv.slice(1).map((v, i) => (i === 1 ? v : Number(v)));
let tries = 0;
const attempt = () => {
  const s = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6 });
  const p = port || min + Math.floor(Math.random() * (max - min + 1));
  s.once('error', (e) => {
    s.close();
    if (port === 0 && e.code === 'EADDRINUSE' && ++tries < 64) return attempt();
    process.send({ error: e.code + ' ' + e.message }, () => process.exit(1));
  });
  s.bind({ address, port: p, exclusive: true }, () => {
    s.setTTL(255);
    process.send({ port: s.address().port }, s, () => process.exit(0));
  });
};
attempt();`;

function childArgs(b: UdpBind): string[] {
  const address = b.address ?? (b.family === 6 ? '::' : '0.0.0.0');
  return [String(b.family), address, String(b.port), String(SOURCE_PORT_MIN), String(SOURCE_PORT_MAX)];
}

/** Opens a bound UDP socket with TTL 255, in `netns` when given (else in ours, through the same child). */
export function openUdp(b: UdpBind): Promise<dgram.Socket> {
  const what = `bfd: cannot bind udp ${b.address ?? (b.family === 6 ? '[::]' : '0.0.0.0')}:${b.port || 'source port'}${b.netns ? ` in netns ${b.netns}` : ''}`;
  return socketFromChild<dgram.Socket>(CHILD, childArgs(b), b.netns, what);
}
