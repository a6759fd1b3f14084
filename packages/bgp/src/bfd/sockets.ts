/**
 * UDP sockets for BFD (RFC 5881), in the network namespace where the BGP
 * sessions run. As with the BMP station's listener (../bmp/listen.ts), a
 * socket for a named namespace is opened by a short-lived child started with
 * `ip netns exec` and handed to us over the IPC channel; it keeps the
 * namespace it was created in.
 *
 * - The receive socket listens on port 3784 (single-hop control packets).
 * - A send socket is bound to a source port in 49152–65535 (§4 of RFC 5881)
 *   and sends with TTL (hop limit) 255, so the peer's GTSM check passes.
 *
 * Node's dgram cannot read a received packet's TTL, so the receive-side
 * check (TTL must be 255) is not done: any host that can reach port 3784
 * can send us control packets. They still have to name a session we hold.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { TerraceError } from '@terrace/api';

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

const HANDOVER_TIMEOUT_MS = 10_000;

function childArgs(b: UdpBind): string[] {
  const address = b.address ?? (b.family === 6 ? '::' : '0.0.0.0');
  return ['-e', CHILD, String(b.family), address, String(b.port), String(SOURCE_PORT_MIN), String(SOURCE_PORT_MAX)];
}

/** Opens a bound UDP socket with TTL 255, in `netns` when given (else in ours, through the same child). */
export function openUdp(b: UdpBind): Promise<dgram.Socket> {
  const what = `bfd: cannot bind udp ${b.address ?? (b.family === 6 ? '[::]' : '0.0.0.0')}:${b.port || 'source port'}${b.netns ? ` in netns ${b.netns}` : ''}`;
  const cmd = b.netns ? 'ip' : process.execPath;
  const args = b.netns ? ['netns', 'exec', b.netns, process.execPath, ...childArgs(b)] : childArgs(b);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    let done = false;
    const fail = (why: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new TerraceError('Unavailable', `${what}: ${why}`));
    };
    const timer = setTimeout(() => fail(`no socket after ${HANDOVER_TIMEOUT_MS} ms`), HANDOVER_TIMEOUT_MS);
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => fail(e.message));
    child.on('message', (m: { port?: number; error?: string }, handle?: dgram.Socket) => {
      if (done) {
        handle?.close();
        return;
      }
      if (m.error || !handle) return fail(m.error ?? 'no socket received');
      done = true;
      clearTimeout(timer);
      resolve(handle);
    });
    child.on('exit', (code) => fail(stderr.trim() || `helper exited with ${code}`));
  });
}
