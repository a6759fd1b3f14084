#!/usr/bin/env node
// Pod wiring: wirePod + removePod through the netlink relay against a plain
// `ip -batch` pair per pod (the host namespace's lines, then the pod's), in a
// fresh lab: one "host" namespace and N pod namespaces (default 50).
//
// Pods are done one at a time, alternating the two ways on the same pod
// namespace so that both see the same machine load. Both wire the same
// dual-stack pod (veth with the pod end created in the pod, MACs, MTU, host
// end up; pod: lo up, /32 and /128 nodad, link up, permanent neighbours and
// default routes); the relay also writes the host end's sysctls, the ip pair
// does not (the old code ran `sysctl` as a third process). Removal: one
// RTM_DELLINK through the relay against one `ip link del` process.
//
// The relay is started (one frame) before timing, as an agent starts it once;
// that first frame's time is printed as relay_start_ms. p99 of 50 samples is
// the largest (nearest rank).
//
// Usage: npm run bench -- wire [pods]
// Last line: {"bench":"wire","pods":N,"relay":{"wire_p50_ms":..,"wire_p99_ms":..,"remove_p50_ms":..,"remove_p99_ms":..},
//   "ip_batch":{...same...},"relay_start_ms":..}
import { spawn } from 'node:child_process';
import { parseIP, formatIP } from '../packages/api/dist/src/index.js';
import { LinkRelay, hostVethName, podMacs, removePod, wirePod } from '../packages/dataplane/dist/src/index.js';
import { createLab } from '../packages/testkit/dist/src/index.js';

const N = Number(process.argv[2] ?? 50);
const MTU = 1450;
const path = (ns) => `/var/run/netns/${ns}`;

function run(args, input) {
  return new Promise((resolve, reject) => {
    const c = spawn('ip', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d) => (err += d));
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ip ${args.join(' ')}: ${err.trim()}`))));
    c.stdin.end(input ?? '');
  });
}

/** The baseline: what the old wiring sent, minus its sysctl process and host routes. */
async function ipPair(hostNs, podNs, id, addrs) {
  const host = hostVethName(id, 'eth0');
  const macs = podMacs(id, 'eth0');
  await run(['-n', hostNs, '-batch', '-'], [
    `link add ${host} mtu ${MTU} address ${macs.host} type veth peer name eth0 mtu ${MTU} address ${macs.pod} netns ${path(podNs)}`,
    `link set ${host} up`,
  ].join('\n') + '\n');
  const lines = ['link set lo up', ...addrs.map((a) => `addr add ${formatIP(a)}/${a.family === 4 ? 32 : 128} dev eth0${a.family === 6 ? ' nodad' : ''}`), 'link set eth0 up'];
  lines.push(`neigh replace 169.254.1.1 lladdr ${macs.host} dev eth0 nud permanent`, 'route replace default via 169.254.1.1 dev eth0 onlink');
  lines.push(`neigh replace fe80::1 lladdr ${macs.host} dev eth0 nud permanent`, 'route replace ::/0 via fe80::1 dev eth0');
  await run(['-n', podNs, '-batch', '-'], lines.join('\n') + '\n');
}

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return Number(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)].toFixed(3));
}
const summary = (wire, remove) => ({ wire_p50_ms: pct(wire, 50), wire_p99_ms: pct(wire, 99), remove_p50_ms: pct(remove, 50), remove_p99_ms: pct(remove, 99) });

const lab = await createLab({ tag: 'bw' });
const relay = new LinkRelay();
try {
  const hostNs = await lab.addNamespace('host');
  const pods = [];
  for (let i = 0; i < N; i++) pods.push(await lab.addNamespace(`p${i}`));
  let t0 = process.hrtime.bigint();
  await removePod({ containerId: 'warm-up', ifname: 'eth0', hostNetns: path(hostNs), relay });
  const relayStart = Number(ms(t0).toFixed(3));

  const times = { relay: { wire: [], remove: [] }, ip: { wire: [], remove: [] } };
  for (let i = 0; i < N; i++) {
    const addrs = [parseIP(`198.18.40.${i + 1}`), parseIP(`2001:db8:40::${(i + 1).toString(16)}`)];
    const w = { containerId: `bench-${i}`, ifname: 'eth0', netns: path(pods[i]), hostNetns: path(hostNs), addresses: addrs, mtu: MTU, relay };
    t0 = process.hrtime.bigint();
    await wirePod(w);
    times.relay.wire.push(ms(t0));
    t0 = process.hrtime.bigint();
    if (!(await removePod(w))) throw new Error(`pod ${i}: nothing to remove`);
    times.relay.remove.push(ms(t0));

    const id = `bench-ip-${i}`;
    t0 = process.hrtime.bigint();
    await ipPair(hostNs, pods[i], id, addrs);
    times.ip.wire.push(ms(t0));
    t0 = process.hrtime.bigint();
    await run(['-n', hostNs, 'link', 'del', hostVethName(id, 'eth0')]);
    times.ip.remove.push(ms(t0));
  }
  console.log(JSON.stringify({ bench: 'wire', pods: N, relay: summary(times.relay.wire, times.relay.remove), ip_batch: summary(times.ip.wire, times.ip.remove), relay_start_ms: relayStart }));
} finally {
  await relay.close();
  await lab.destroy();
}
