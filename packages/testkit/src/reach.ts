/**
 * Proves that an address answers TCP from another namespace (the labs have
 * no ping): a one-shot echo server bound to the address in one namespace, a
 * client in the other. Starting node takes seconds on a loaded machine, so
 * both sides wait generously: a slow start is not a routing failure, and a
 * route that is missing still fails (the client's connect is refused or
 * times out, the server never answers).
 */
import { waitFor } from './daemons.js';
import type { Lab } from './netns.js';

/** How long the client waits for "pong" before it gives up (exit code 3). */
const CLIENT_MS = 10_000;

let port = 20000 + (process.pid % 20000);

/** Resolves once a client in `from` got an answer from `addr`, served in `to`; rejects otherwise. */
export async function reachTcp(lab: Lab, from: string, to: string, addr: string): Promise<void> {
  port = port >= 60000 ? 20000 : port + 1;
  const srv = lab.startDaemon(to, {
    name: `echo@${to}`,
    command: process.execPath,
    args: ['-e', `require('net').createServer((s) => s.end('pong')).listen(${port}, '${addr}', () => console.log('ready'))`],
  });
  try {
    await waitFor(`the echo server on ${addr} port ${port} in ${to}`, () => {
      if (srv.output().includes('ready')) return true;
      if (!srv.running()) throw new Error(`it exited: ${srv.output().trim()}`);
      return false;
    }, 15_000, 20);
    const client = `const s = require('net').connect(${port}, '${addr}'); let d = '';
      s.on('data', (x) => (d += x)); s.on('end', () => process.exit(d === 'pong' ? 0 : 1));
      s.on('error', (e) => { console.error(e.message); process.exit(2); }); setTimeout(() => process.exit(3), ${CLIENT_MS});`;
    await lab.exec(from, process.execPath, ['-e', client]);
  } finally {
    await srv.stop(1000);
  }
}
