/**
 * A TCP listening socket for the BMP station, in the network namespace where
 * gobgpd runs. On a host the agent and gobgpd share one namespace and this is
 * a plain listen. When the agent supervises a gobgpd inside a named namespace
 * (the lab, the tests), a short-lived child started there with `ip netns exec`
 * opens the socket and hands it to us over the IPC channel (SCM_RIGHTS); a
 * socket keeps the namespace it was created in, so gobgpd can reach it on that
 * namespace's loopback while we accept in ours. No relay stays in the path.
 */
import net from 'node:net';
import { socketFromChild } from '../handover.js';

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

function listenInNetns(netns: string, host: string, port: number): Promise<net.Server> {
  return socketFromChild<net.Server>(CHILD, [host, String(port)], netns, `bmp station: cannot listen on ${host}:${port} in netns ${netns}`);
}

export function listenTcp(o: ListenOptions): Promise<net.Server> {
  return o.netns ? listenInNetns(o.netns, o.host, o.port) : listenHere(o.host, o.port);
}
