/**
 * A TCP listening socket for the BMP station, in the network namespace where
 * gobgpd runs. On a host the agent and gobgpd share one namespace and this is
 * a plain listen. When the agent supervises a gobgpd inside a named namespace
 * (the lab, the tests), a short-lived child started there with `ip netns exec`
 * opens the socket and hands it to us over the IPC channel (SCM_RIGHTS); a
 * socket keeps the namespace it was created in, so gobgpd can reach it on that
 * namespace's loopback while we accept in ours. No relay stays in the path.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { TerraceError } from '@terrace/api';

export interface ListenOptions {
  host: string;
  port: number;
  /** Named network namespace to open the socket in (absent: our own). */
  netns?: string;
}

function listenHere(host: string, port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ host, port, exclusive: true }, () => {
      srv.off('error', reject);
      resolve(srv);
    });
  });
}

/** The child's whole program: listen, send the server, exit once it is sent. */
const CHILD = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
const srv = net.createServer();
srv.once('error', (e) => { process.send({ error: e.message }, () => process.exit(1)); });
srv.listen({ host, port: Number(port), exclusive: true }, () => {
  process.send({ port: srv.address().port }, srv, () => process.exit(0));
});`;

/** A child that has not handed over its socket by then is stuck (a hung `ip netns exec`). */
const HANDOVER_TIMEOUT_MS = 10_000;

function listenInNetns(netns: string, host: string, port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', CHILD, host, String(port)], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    let done = false;
    const fail = (why: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new TerraceError('Unavailable', `bmp station: cannot listen on ${host}:${port} in netns ${netns}: ${why}`));
    };
    const timer = setTimeout(() => fail(`no socket after ${HANDOVER_TIMEOUT_MS} ms`), HANDOVER_TIMEOUT_MS);
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => fail(e.message));
    child.on('message', (m: { port?: number; error?: string }, handle?: net.Server) => {
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

export function listenTcp(o: ListenOptions): Promise<net.Server> {
  return o.netns ? listenInNetns(o.netns, o.host, o.port) : listenHere(o.host, o.port);
}
