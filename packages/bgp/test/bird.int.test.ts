/**
 * The BIRD backend against real daemons in network namespaces:
 *
 *   n1 (BIRD, AS 64512, supervised by a BirdSpeaker) ─┐
 *   n2 (BIRD, AS 65002, a sidecar a BirdSpeaker drives) ┼─ fabric bridge 198.18.0.0/24
 *   tor (FRR with bfdd, AS 65000)                      ─┘
 *
 * tor and n2 both announce 10.99.0.0/24 with equal paths, so n1's kernel gets
 * an ECMP route (proto bird); tor's 10.98.0.0/24 is withdrawn by BFD when
 * tor's link is cut.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatIP, parseCidr, parseIP, formatAddr, formatPrefix, packCidr } from '@terrace/api';
import { createLab, listNamespaces, onProcessExit, startFrr, waitFor, type Daemon, type FrrRouter, type Lab } from '@terrace/testkit';
import { BirdControl } from '../src/bird/control.js';
import { BirdSpeaker } from '../src/bird/speaker.js';
import type { Announcement, LearnedEvent, PeerConfig } from '../src/speaker.js';

/** A prefix as the learned routes key it. */
const packedPrefix = (s: string) => packCidr(parseCidr(s));

const FAST = { keepaliveTime: 1, holdTime: 3, connectRetry: 1 };
/**
 * The tor session's timers: a 30 s hold time, so within the BFD test's
 * waits only BFD can take the session down, however slow the machine.
 */
const SLOW = { keepaliveTime: 10, holdTime: 30, connectRetry: 1 };
const N1 = { addr: '198.18.0.11', asn: 64512 };
const N2 = { addr: '198.18.0.12', asn: 65002 };
const TOR = { addr: '198.18.0.1', asn: 65000 };
const BFD = { intervalMs: 100, multiplier: 3 };

let lab: Lab;
let dir: string;
let tor: FrrRouter;
let n1: BirdSpeaker;
let n2: BirdSpeaker;
let n2bird: Daemon;
let nsN1: string;
const errors: string[] = [];

const n1Peers = (): PeerConfig[] => [
  { address: parseIP(TOR.addr), asn: TOR.asn, ...SLOW, description: 'tor', bfd: BFD },
  { address: parseIP(N2.addr), asn: N2.asn, ...FAST, description: 'n2' },
];
const n1Paths = (...extra: string[]): Announcement[] =>
  ['10.244.1.0/26', ...extra].map((p) => ({ prefix: parseCidr(p), nextHop: parseIP(N1.addr) }));

interface KernelRoute {
  dst: string;
  gateway?: string;
  protocol?: string;
  metric?: number;
  nexthops?: { gateway?: string }[];
}

async function kernelRoutes(ns: string): Promise<KernelRoute[]> {
  // Filtering by protocol in `ip` would drop the protocol field from its JSON.
  const { stdout } = await lab.exec(ns, 'ip', ['-4', '-j', 'route', 'show']);
  return (JSON.parse(stdout || '[]') as KernelRoute[]).filter((r) => r.protocol === 'bird');
}

const gateways = (r: KernelRoute | undefined): string[] =>
  r ? (r.nexthops ? r.nexthops.map((h) => h.gateway ?? '?') : [r.gateway ?? '?']).sort() : [];

async function torHops(prefix: string): Promise<string[]> {
  return ((await tor.bgpRoutes())[prefix] ?? []).map((p) => p.nexthops?.[0]?.ip ?? '?').sort();
}

async function lastReconfiguration(ctl: BirdControl): Promise<string> {
  const r = await ctl.command('show status');
  return r.lines.find((l) => l.text.startsWith('Last reconfiguration'))?.text ?? '';
}

beforeAll(async () => {
  lab = await createLab({ tag: 'tb' });
  dir = mkdtempSync(join(tmpdir(), 'terrace-bird-int-'));
  onProcessExit(() => rmSync(dir, { recursive: true, force: true }));
  const fabric = await lab.addBridge();
  const nsTor = await lab.addNamespace('tor');
  nsN1 = await lab.addNamespace('n1');
  const nsN2 = await lab.addNamespace('n2');
  await lab.connect(nsTor, fabric, `${TOR.addr}/24`);
  await lab.connect(nsN1, fabric, `${N1.addr}/24`);
  await lab.connect(nsN2, fabric, `${N2.addr}/24`);

  // FRR: BFD towards n1 with a 100 ms profile (bfdd beside zebra and bgpd).
  tor = await startFrr(lab, nsTor, {
    asn: TOR.asn,
    routerId: TOR.addr,
    neighbors: [{ address: N1.addr, asn: N1.asn, keepalive: SLOW.keepaliveTime, hold: SLOW.holdTime, bfd: BFD }],
    networks: ['10.98.0.0/24', '10.99.0.0/24'],
  });

  // n2: a BIRD someone else started (sidecar), with a minimal config until the speaker writes its own.
  const n2conf = join(dir, 'n2.conf');
  const n2sock = join(dir, 'n2.ctl');
  // Its device protocol has the name ours has: BIRD replaces a renamed one, forgets
  // the interfaces and finds them again only at the next scan (10 s), which
  // would hold the direct session back until then.
  writeFileSync(n2conf, `router id ${N2.addr};\nprotocol device terrace_device {\n  scan time 10;\n}\n`);
  n2bird = lab.startDaemon(nsN2, { name: `bird@${nsN2}`, command: 'bird', args: ['-f', '-c', n2conf, '-s', n2sock] });
  n2 = new BirdSpeaker({ sidecar: { configPath: n2conf, socketPath: n2sock }, pollMs: 200, onError: (e) => errors.push(`n2: ${e.message}`) });
  await n2.start({ asn: N2.asn, routerId: N2.addr });
  await n2.setPeers([{ address: parseIP(N1.addr), asn: N1.asn, ...FAST }]);
  await n2.setAnnouncements(['10.99.0.0/24', '10.244.2.0/26'].map((p) => ({ prefix: parseCidr(p), nextHop: parseIP(N2.addr) })));

  n1 = new BirdSpeaker({
    daemon: { configPath: join(dir, 'n1.conf'), socketPath: join(dir, 'n1.ctl'), netns: nsN1, initialBackoffMs: 100 },
    pollMs: 200,
    onError: (e) => errors.push(`n1: ${e.message}`),
  });
  await n1.setPeers(n1Peers());
  await n1.setAnnouncements(n1Paths());
  await n1.start({ asn: N1.asn, routerId: N1.addr });
}, 60000);

afterAll(async () => {
  await n1?.stop();
  await n2?.stop();
  await tor?.stop();
  await n2bird?.stop();
  const prefix = lab?.prefix;
  await lab?.destroy();
  rmSync(dir, { recursive: true, force: true });
  if (prefix) expect(await listNamespaces(prefix)).toEqual([]);
}, 30000);

describe('BIRD backend', () => {
  it('brings both sessions up and reports them with counts', async () => {
    const t0 = Date.now();
    const st = await waitFor('n1 sessions established', async () => {
      const s = await n1.peerStatus();
      return s.length === 2 && s.every((p) => p.state === 'established') && s.every((p) => p.prefixesAccepted >= 2) ? s : undefined;
    }, 30000, 200);
    console.log(`sessions established ${Date.now() - t0} ms after start`);
    const tp = st.find((p) => p.address === TOR.addr)!;
    expect(tp).toMatchObject({ asn: TOR.asn, description: 'tor', info: 'Established' });
    expect(tp.since).toBeInstanceOf(Date);
    expect(tp.prefixesAdvertised).toBe(1);
  });

  it('announces our block to FRR with the node as next hop, and nothing it learned', async () => {
    expect(await waitFor('tor learns 10.244.1.0/26', async () => ((await torHops('10.244.1.0/26')).length ? torHops('10.244.1.0/26') : undefined))).toEqual([N1.addr]);
    // n2's block reached n1, but n1 never passes it on.
    await waitFor('n1 learns 10.244.2.0/26', () => n1.learnedSnapshot().has(packedPrefix('10.244.2.0/26')), 15000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await torHops('10.244.2.0/26')).toEqual([]);
  });

  it('writes learned routes to the kernel as proto bird, ECMP for equal paths', async () => {
    const routes = await waitFor('ECMP route in n1', async () => {
      const rs = await kernelRoutes(nsN1);
      const ecmp = rs.find((r) => r.dst === '10.99.0.0/24');
      return gateways(ecmp).length === 2 ? rs : undefined;
    }, 20000, 200);
    expect(gateways(routes.find((r) => r.dst === '10.99.0.0/24'))).toEqual([TOR.addr, N2.addr]);
    expect(gateways(routes.find((r) => r.dst === '10.98.0.0/24'))).toEqual([TOR.addr]);
    expect(routes.map((r) => [r.protocol, r.metric])).toEqual(routes.map(() => ['bird', 32]));
    // Our own block is never a kernel route of BIRD's.
    expect(routes.find((r) => r.dst === '10.244.1.0/26')).toBeUndefined();
    await waitFor('learned snapshot shows ECMP', () => n1.learnedSnapshot().get(packedPrefix('10.99.0.0/24'))?.nextHops.length === 2, 5000);
    expect(n1.learnedSnapshot().get(packedPrefix('10.99.0.0/24'))!.nextHops.map(formatAddr).sort()).toEqual([TOR.addr, N2.addr]);
  });

  it('streams learned routes to a new subscriber, then changes', async () => {
    const it = n1.learned()[Symbol.asyncIterator]();
    const first = (await it.next()).value as readonly LearnedEvent[];
    expect(first.filter((e) => e.kind === 'set').map((e) => formatPrefix(e.prefix)).sort()).toEqual(['10.244.2.0/26', '10.98.0.0/24', '10.99.0.0/24']);
    await n2.setAnnouncements([{ prefix: parseCidr('10.99.0.0/24'), nextHop: parseIP(N2.addr) }]);
    const next = (await it.next()).value as readonly LearnedEvent[];
    expect(next).toEqual([{ kind: 'withdraw', prefix: packedPrefix('10.244.2.0/26') }]);
    await it.return?.();
  });

  it('applies a change without restarting BIRD, and an unchanged state without reloading', async () => {
    const pid = n1.daemon!.pid;
    const reloads = n1.reloads;
    const sinceOf = async (addr: string): Promise<number | undefined> => (await n1.peerStatus()).find((p) => p.address === addr && p.state === 'established')?.since?.getTime();
    const torSince = await sinceOf(TOR.addr);
    expect(torSince).toBeDefined();
    await n1.setAnnouncements(n1Paths('10.244.1.64/26'));
    expect(n1.reloads).toBe(reloads + 1);
    expect(await waitFor('tor learns 10.244.1.64/26', async () => ((await torHops('10.244.1.64/26')).length ? torHops('10.244.1.64/26') : undefined))).toEqual([N1.addr]);
    expect(n1.daemon!.pid).toBe(pid);
    // Only the static protocol and the export filter changed: the session was not reset.
    expect(await sinceOf(TOR.addr)).toBe(torSince);

    const before = await lastReconfiguration(n1.control);
    await n1.setPeers(n1Peers());
    await n1.setAnnouncements(n1Paths('10.244.1.64/26'));
    await n1.reconcile();
    expect(n1.reloads).toBe(reloads + 1);
    // A file edited behind our back is put back, without a reload (BIRD still runs ours).
    const conf = readFileSync(n1.configPath, 'utf8');
    writeFileSync(n1.configPath, '# edited\n');
    await n1.reconcile();
    expect(readFileSync(n1.configPath, 'utf8')).toBe(conf);
    expect(n1.reloads).toBe(reloads + 1);
    expect(await lastReconfiguration(n1.control)).toBe(before);
    expect(n1.inSync()).toBe(true);
  });

  it('withdraws the route learned from FRR long before the hold time after the link is cut (BFD)', async () => {
    await waitFor('BFD session up', async () => {
      const r = await n1.control.command('show bfd sessions');
      return r.lines.some((l) => l.text.includes(TOR.addr) && /\bUp\b/.test(l.text));
    }, 20000, 200);
    const hasTorRoute = async (): Promise<boolean> => {
      // BIRD answers "Network not found" (an 8xxx error) once no route is left.
      const r = await n1.control.command('show route 10.98.0.0/24').catch(() => undefined);
      return r?.lines.some((l) => l.text.includes('ebgp_198_18_0_1')) ?? false;
    };
    expect(await hasTorRoute()).toBe(true);
    const t0 = process.hrtime.bigint();
    await lab.exec(tor.ns, 'ip', ['link', 'del', 'eth0']);
    await waitFor('route from tor withdrawn', async () => !(await hasTorRoute()), 20_000, 5);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(`BFD: route from FRR withdrawn ${ms.toFixed(0)} ms after the link was cut (BFD 100 ms x 3, hold time 30 s)`);
    // About 300 ms when idle; a third of the hold time still proves BFD, not the hold timer, took it down.
    expect(ms).toBeLessThan(10_000);
    await waitFor('kernel route gone', async () => !(await kernelRoutes(nsN1)).some((r) => r.dst === '10.98.0.0/24'), 10_000, 20);
    // The ECMP route falls back to n2 alone.
    expect(gateways((await kernelRoutes(nsN1)).find((r) => r.dst === '10.99.0.0/24'))).toEqual([N2.addr]);
  });

  it('restarts a BIRD that died, which then learns its routes again', async () => {
    const pid = n1.daemon!.pid!;
    const gen = n1.daemon!.generation;
    process.kill(pid, 'SIGKILL');
    await waitFor('bird restarted', () => n1.daemon!.generation > gen && n1.daemon!.pid !== undefined, 15000, 50);
    expect(n1.daemon!.pid).not.toBe(pid);
    await waitFor('session with n2 back', async () => (await n1.peerStatus()).find((p) => p.address === N2.addr)?.state === 'established', 20000, 200);
    await waitFor('kernel route back', async () => gateways((await kernelRoutes(nsN1)).find((r) => r.dst === '10.99.0.0/24')).join() === N2.addr, 10000, 100);
    await n1.reconcile();
    expect(n1.inSync()).toBe(true);
    // The restarted BIRD read the current file: nothing had to be reloaded.
    const reloads = n1.reloads;
    await n1.reconcile();
    expect(n1.reloads).toBe(reloads);
  });

  it('peers over IPv6 and writes v6 routes to the kernel', async () => {
    await lab.addAddress(nsN1, 'eth0', '2001:db8::11/64');
    await lab.addAddress(lab.nsName('n2'), 'eth0', '2001:db8::12/64');
    await n1.setPeers([...n1Peers(), { address: parseIP('2001:db8::12'), asn: N2.asn, ...FAST }]);
    await n1.setAnnouncements([...n1Paths('10.244.1.64/26'), { prefix: parseCidr('fd00:10:244:1::/64'), nextHop: parseIP('2001:db8::11') }]);
    await n2.setPeers([{ address: parseIP(N1.addr), asn: N1.asn, ...FAST }, { address: parseIP('2001:db8::11'), asn: N1.asn, ...FAST }]);
    await n2.setAnnouncements([
      { prefix: parseCidr('10.99.0.0/24'), nextHop: parseIP(N2.addr) },
      { prefix: parseCidr('fd00:10:244:2::/64'), nextHop: parseIP('2001:db8::12') },
    ]);
    await waitFor('v6 session up', async () => (await n1.peerStatus()).find((p) => p.address === '2001:db8::12')?.state === 'established', 20000, 200);
    const route = await waitFor('v6 kernel route', async () => {
      const { stdout } = await lab.exec(nsN1, 'ip', ['-6', '-j', 'route', 'show']);
      return (JSON.parse(stdout || '[]') as KernelRoute[]).find((r) => r.dst === 'fd00:10:244:2::/64' && r.protocol === 'bird');
    }, 15000, 200);
    expect(gateways(route)).toEqual(['2001:db8::12']);
    // The speaker reads BIRD's table on its poll: the kernel can have the route first.
    const hops = await waitFor('v6 route in the learned snapshot', () => n1.learnedSnapshot().get(packedPrefix('fd00:10:244:2::/64'))?.nextHops, 5000, 50);
    expect(hops.map(formatAddr)).toEqual(['2001:db8::12']);
    // n2 received our v6 block with our v6 address as next hop.
    const r = await n2.control.command('show route fd00:10:244:1::/64 all');
    expect(r.lines.some((l) => /BGP\.next_hop: 2001:db8::11\b/.test(l.text))).toBe(true);
  });

  it('reported no errors', () => {
    expect(errors).toEqual([]);
  });
});
