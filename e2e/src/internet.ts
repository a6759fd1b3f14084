/**
 * The lab's "internet": one host behind the ToR on a link of its own, as a
 * server outside the cluster is. It has a default route via the ToR and no
 * other route, so it reaches pod addresses only through what the ToR learned
 * over BGP, and its address is in no pool.
 *
 *   <p>tor  eth1 198.18.200.254/24 ── eth0 198.18.200.1/24  <p>inet
 *
 * A node reaches it through its default route via the ToR (LabOptions.internet
 * gives every node one, as real hosts have). Its address echo answers each
 * HTTP request with the address the request came from: what a server out
 * there sees of a pod.
 */
import type { Daemon, Lab } from '@terrace/testkit';
import { mustRunIn, runIn, waitUntil } from './proc.js';

export const INTERNET_IP = '198.18.200.1';
export const INTERNET_GATEWAY = '198.18.200.254';
export const INTERNET_PREFIX_LEN = 24;
/** The address echo's TCP port, on the internet host and in pods. */
export const ECHO_PORT = 8080;

/** Wires the internet namespace to the ToR and lets the ToR forward; returns the namespace's name. */
export async function addInternet(kit: Lab, torNs: string): Promise<string> {
  const ns = await kit.addNamespace('inet');
  // One veth pair, created in the ToR's namespace with its far end moved straight into ours.
  await mustRunIn(torNs, 'ip', ['link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await mustRunIn(torNs, 'ip', ['addr', 'add', `${INTERNET_GATEWAY}/${INTERNET_PREFIX_LEN}`, 'dev', 'eth1']);
  await mustRunIn(torNs, 'ip', ['link', 'set', 'eth1', 'up']);
  await mustRunIn(ns, 'ip', ['addr', 'add', `${INTERNET_IP}/${INTERNET_PREFIX_LEN}`, 'dev', 'eth0']);
  await mustRunIn(ns, 'ip', ['link', 'set', 'eth0', 'up']);
  await mustRunIn(ns, 'ip', ['route', 'add', 'default', 'via', INTERNET_GATEWAY]);
  await mustRunIn(torNs, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  return ns;
}

/** Answers every HTTP request with the peer's address (IPv4-mapped IPv6 prefix stripped). */
const ECHO_SCRIPT = `
const http = require('node:http');
http.createServer((req, res) => res.end(String(req.socket.remoteAddress).replace(/^::ffff:/, ''))).listen(${ECHO_PORT}, '0.0.0.0', () => console.log('listening'));
`;

/** Starts an address echo in `ns` (the internet host or a pod), tracked by PID; resolves once it listens. */
export async function startAddressEcho(kit: Lab, ns: string): Promise<Daemon> {
  const d = kit.startDaemon(ns, { name: `echo@${ns}`, command: process.execPath, args: ['-e', ECHO_SCRIPT] });
  await waitUntil(`address echo in ${ns}`, () => {
    if (!d.running()) throw new Error(`address echo in ${ns} exited: ${d.output()}`);
    return d.output().includes('listening');
  }, 10000, 50);
  return d;
}

/** The address the echo at `ip` saw the request from `fromNs` come from; undefined when it could not be reached. */
export async function seenAs(fromNs: string, ip: string): Promise<string | undefined> {
  const r = await runIn(fromNs, 'curl', ['-sS', '--max-time', '3', `http://${ip}:${ECHO_PORT}/`], { timeoutMs: 6000 });
  return r.code === 0 ? r.stdout.trim() : undefined;
}
