/**
 * BFD for the GoBGP backend against the real thing, in network namespaces:
 *
 *   g   (gobgpd supervised by a GobgpSpeaker, AS 65001; our BFD) ─┐
 *   tor (FRR with bfdd, AS 65000)                                 ─┼─ fabric 198.18.0.0/24, 2001:db8:198:18::/64
 *   b   (BIRD supervised by a BirdSpeaker, AS 65002; protocol bfd) ─┘
 *
 * g asks for BFD (100 ms × 3) on all three sessions (tor over IPv4, b over
 * IPv4 and IPv6); tor and b ask for it towards g. Cutting a link must take
 * the BGP session down through BFD (the hold time is 30 s), hold it down
 * while BFD is down, and bring it back once BFD is Up again. Timings are
 * printed, never asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatPrefix, parseCidr, parseIP } from '@terrace/api';
import { createLab, listNamespaces, onProcessExit, startFrr, waitFor, type FrrRouter, type Lab } from '@terrace/testkit';
import { BfdManager, type BfdChange } from '../src/bfd/manager.js';
import { BirdSpeaker } from '../src/bird/speaker.js';
import { PeerState_AdminState } from '../src/gen/gobgp_pb.js';
import { HOLD_DOWN_MS } from '../src/gobgp/bfd.js';
import { GobgpSpeaker } from '../src/gobgp/speaker.js';
import type { PeerConfig, PeerStatus } from '../src/speaker.js';

/**
 * A 30 s hold time: within the waits below only BFD can take a session
 * down, so without it the withdrawal tests fail instead of passing late.
 */
const SLOW = { keepaliveTime: 10, holdTime: 30, connectRetry: 1 };
const BFD = { intervalMs: 100, multiplier: 3 };
const G = { v4: '198.18.0.11', v6: '2001:db8:198:18::11', asn: 65001 };
const B = { v4: '198.18.0.12', v6: '2001:db8:198:18::12', asn: 65002 };
const TOR = { v4: '198.18.0.1', asn: 65000 };
/** A bare BFD peer (a BfdManager of its own, no BGP). */
const H = { v4: '198.18.0.13' };
const TOR_NET = '198.19.1.0/24';
const B_NET4 = '198.19.2.0/24';
const B_NET6 = '2001:db8:99::/48';

let lab: Lab;
let dir: string;
let fabric: string;
let tor: FrrRouter;
let g: GobgpSpeaker;
let b: BirdSpeaker;
let nsG: string;
let nsB: string;
let nsTor: string;
let ifB: string;
const errors: string[] = [];
const changes: Array<BfdChange & { at: number }> = [];

const gPeers = (): PeerConfig[] => [
  { address: parseIP(TOR.v4), asn: TOR.asn, ...SLOW, bfd: BFD },
  { address: parseIP(B.v4), asn: B.asn, ...SLOW, bfd: BFD },
  { address: parseIP(B.v6), asn: B.asn, ...SLOW, bfd: BFD },
];

async function wire(ns: string, host: { v4: string; v6?: string }): Promise<string> {
  const ifname = await lab.connect(ns, fabric, `${host.v4}/24`);
  if (host.v6) await lab.addAddress(ns, ifname, `${host.v6}/64`);
  return ifname;
}

function learned(): Set<string> {
  return new Set([...g.learnedSnapshot().keys()].map((p) => formatPrefix(p)));
}

async function status(addr: string): Promise<PeerStatus | undefined> {
  return (await g.peerStatus()).find((s) => s.address === addr);
}

async function adminDown(addr: string): Promise<boolean> {
  const r = await g.client.list('listPeer', { address: addr });
  return r[0]?.peer?.state?.adminState === PeerState_AdminState.DOWN;
}

/** BIRD's view of its BFD sessions: peer address → state word. */
async function birdBfd(): Promise<Record<string, string>> {
  const r = await b.control.command('show bfd sessions');
  const out: Record<string, string> = {};
  for (const l of r.lines) {
    const m = /^(\S+)\s+\S+\s+(Up|Down|Init|AdminDown)\b/.exec(l.text.trim());
    if (m) out[m[1] as string] = m[2] as string;
  }
  return out;
}

beforeAll(async () => {
  lab = await createLab({ tag: 'tbfd' });
  dir = mkdtempSync(join(tmpdir(), 'terrace-bfd-int-'));
  onProcessExit(() => rmSync(dir, { recursive: true, force: true }));
  fabric = await lab.addBridge();
  nsG = await lab.addNamespace('g');
  nsB = await lab.addNamespace('b');
  nsTor = await lab.addNamespace('tor');
  await wire(nsG, G);
  ifB = await wire(nsB, B);
  // The link goes down and up again below: keep its IPv6 address meanwhile (the kernel drops it by default).
  await lab.exec(nsB, 'sysctl', ['-qw', `net.ipv6.conf.${ifB}.keep_addr_on_down=1`]);
  await wire(nsTor, TOR);

  tor = await startFrr(lab, nsTor, {
    asn: TOR.asn,
    routerId: TOR.v4,
    neighbors: [{ address: G.v4, asn: G.asn, keepalive: 10, hold: 30, bfd: BFD }],
    networks: [TOR_NET],
  });

  b = new BirdSpeaker({
    daemon: { configPath: join(dir, 'b.conf'), socketPath: join(dir, 'b.ctl'), netns: nsB, initialBackoffMs: 100 },
    pollMs: 200,
    onError: (e) => errors.push(`b: ${e.message}`),
  });
  await b.setPeers([
    { address: parseIP(G.v4), asn: G.asn, ...SLOW, bfd: BFD },
    { address: parseIP(G.v6), asn: G.asn, ...SLOW, bfd: BFD },
  ]);
  await b.setAnnouncements([
    { prefix: parseCidr(B_NET4), nextHop: parseIP(B.v4) },
    { prefix: parseCidr(B_NET6), nextHop: parseIP(B.v6) },
  ]);
  await b.start({ asn: B.asn, routerId: B.v4 });

  g = new GobgpSpeaker({
    daemon: { netns: nsG, apiAddress: `unix://${join(dir, 'g.sock')}`, initialBackoffMs: 100 },
    resyncMs: 2000,
    onError: (e) => errors.push(`g: ${e.message}`),
    onBfd: (c) => changes.push({ ...c, at: performance.now() }),
  });
  await g.start({ asn: G.asn, routerId: G.v4 });
  await g.setPeers(gPeers());
}, 60000);

afterAll(async () => {
  await g?.stop();
  await b?.stop();
  await tor?.stop();
  const prefix = lab?.prefix;
  await lab?.destroy();
  rmSync(dir, { recursive: true, force: true });
  if (prefix) expect(await listNamespaces(prefix)).toEqual([]);
}, 30000);

describe('BFD run by the agent for gobgpd', () => {
  it('comes Up with FRR\'s bfdd and BIRD\'s protocol bfd, over IPv4 and IPv6, and reports it per peer', async () => {
    await waitFor('BFD up on all three sessions', async () => {
      const st = await g.peerStatus();
      return st.length === 3 && st.every((s) => s.bfd === 'up' && s.state === 'established');
    }, 30000, 100);
    expect((await tor.bfdPeers())[G.v4]).toBe('up');
    await waitFor('BIRD sees both sessions up', async () => {
      const s = await birdBfd();
      return s[G.v4] === 'Up' && s[G.v6] === 'Up';
    }, 10000, 100);
    await waitFor('routes from both peers learned', async () => {
      const l = learned();
      return l.has(TOR_NET) && l.has(B_NET4) && l.has(B_NET6);
    }, 20000, 100);
    expect(g.supportsBfd).toBe(true);
  });

  it('BIRD\'s link is cut: both sessions go Down by detection time, the BGP peers are held down and BIRD\'s routes withdrawn; FRR\'s stay', async () => {
    const t0 = performance.now();
    await lab.exec(nsB, 'ip', ['link', 'set', ifB, 'down']);
    await waitFor('BIRD routes withdrawn', async () => {
      const l = learned();
      return !l.has(B_NET4) && !l.has(B_NET6);
    }, 10000, 5);
    const ms = performance.now() - t0;
    const downs = changes.filter((c) => c.to === 'down' && c.from === 'up' && c.at >= t0);
    console.log(`BFD: routes from BIRD withdrawn ${ms.toFixed(0)} ms after its link went down (BFD 100 ms x 3, hold time 30 s); ` +
      `BFD down after ${downs.map((c) => `${c.address} ${(c.at - t0).toFixed(0)} ms (diag ${c.diag})`).join(', ')}`);
    expect(downs.map((c) => c.address).sort()).toEqual([B.v4, B.v6].sort());
    expect(downs.every((c) => c.diag === 1)).toBe(true);
    for (const a of [B.v4, B.v6]) {
      const s = await status(a);
      expect(s?.bfd).toBe('down');
      expect(s?.info).toMatch(/held down: BFD session down/);
      // gobgpd itself has the peer disabled (not just our status line).
      expect(await adminDown(a)).toBe(true);
    }
    // FRR's session is another path: untouched.
    expect((await status(TOR.v4))?.bfd).toBe('up');
    expect(learned().has(TOR_NET)).toBe(true);
  });

  it('while BFD stays down the BGP peers stay down, also across a reconcile pass', async () => {
    await g.reconcile();
    for (const a of [B.v4, B.v6]) {
      expect((await status(a))?.state).not.toBe('established');
      expect(await adminDown(a)).toBe(true);
    }
  });

  it('gobgpd restarts while BFD holds the peers down: the new gobgpd gets them disabled too, until the hold-down ends', async () => {
    const pid = g.daemon!.pid!;
    const errorsBefore = errors.length;
    process.kill(pid, 'SIGKILL');
    await waitFor('gobgpd restarted', () => g.daemon!.pid !== undefined && g.daemon!.pid !== pid, 15000, 50);
    // Disabled again while the hold-down lasts, or enabled after it: never
    // established, and BIRD's routes stay away (its link is still down).
    await waitFor('the restarted gobgpd has both peers', async () => {
      const st = await Promise.all([B.v4, B.v6].map((a) => status(a).catch(() => undefined)));
      return st.every((x) => x !== undefined);
    }, 20000, 100);
    // Calls that met the dead gobgpd failed, as they should; nothing else may.
    const later = errors.splice(errorsBefore);
    errors.push(...later.filter((e) => !/g\.sock: \w+: (read ECONNRESET|No connection established|Connection dropped)/.test(e)));
  });

  it('the hold-down ends on its own: the peers are enabled again while BFD is still down, and stay unestablished without their link', async () => {
    await new Promise((r) => setTimeout(r, HOLD_DOWN_MS + 500));
    await waitFor('both peers enabled again', async () => {
      const st = await Promise.all([B.v4, B.v6].map((a) => adminDown(a)));
      return st.every((d) => !d);
    }, 10000, 100);
    for (const a of [B.v4, B.v6]) {
      const s = await status(a);
      expect(s?.bfd).toBe('down');
      expect(s?.state).not.toBe('established');
      expect(s?.info).not.toMatch(/held down/);
    }
    const l = learned();
    expect(l.has(B_NET4) || l.has(B_NET6)).toBe(false);
  });

  it('the link comes back: BFD Up again, the BGP peers are enabled and BIRD\'s routes return', async () => {
    const t0 = performance.now();
    await lab.exec(nsB, 'ip', ['link', 'set', ifB, 'up']);
    await waitFor('BIRD routes back', async () => {
      const l = learned();
      return l.has(B_NET4) && l.has(B_NET6);
    }, 30000, 50);
    console.log(`BFD: routes from BIRD back ${(performance.now() - t0).toFixed(0)} ms after its link came up`);
    await waitFor('both BGP sessions with BIRD back, BFD up', async () => {
      const st = await Promise.all([B.v4, B.v6].map(status));
      return st.every((s) => s?.bfd === 'up' && s.state === 'established' && !/held down/.test(s.info));
    }, 30000, 100);
  });

  it('BIRD dies and its supervisor starts it again: BFD goes down, comes back Up with the new BIRD, and so do the BGP sessions', async () => {
    const t0 = performance.now();
    process.kill(b.daemon!.pid!, 'SIGKILL');
    // Down may be brief (the new BIRD's session starts at once): watch the change, not the status.
    await waitFor('BFD with BIRD down', async () => changes.some((c) => c.address === B.v4 && c.at >= t0 && c.from === 'up' && c.to === 'down'), 10000, 20);
    await waitFor('both BGP sessions with BIRD back, BFD up', async () => {
      const st = await Promise.all([B.v4, B.v6].map(status));
      return st.every((s) => s?.bfd === 'up' && s.state === 'established' && !/held down/.test(s.info));
    }, 30000, 100).catch(async (e) => {
      console.log('state when the wait failed:', JSON.stringify(changes.filter((c) => c.at >= t0).map((c) => ({ ...c, at: Math.round(c.at - t0) }))), JSON.stringify(await g.peerStatus()), JSON.stringify(await birdBfd()));
      throw e;
    });
    console.log(`BFD: BIRD killed and restarted; sessions back after ${(performance.now() - t0).toFixed(0)} ms`);
  });

  it('a peer that stops its BFD on purpose (AdminDown, as our agent does when it stops) does not take the BGP peer down', async () => {
    const ns = await lab.addNamespace('h');
    await wire(ns, H);
    const h = new BfdManager({ netns: ns });
    try {
      await h.setPeers([{ address: G.v4, ...BFD }]);
      await g.setPeers([...gPeers(), { address: parseIP(H.v4), asn: 65009, ...SLOW, bfd: BFD }]);
      await waitFor('BFD with h up', async () => (await status(H.v4))?.bfd === 'up', 15000, 50);
      const t0 = performance.now();
      await h.close();
      await waitFor('BFD with h down', async () => (await status(H.v4))?.bfd === 'down', 5000, 20);
      const c = changes.find((x) => x.address === H.v4 && x.at >= t0 && x.to === 'down');
      expect(c).toMatchObject({ from: 'up', peerAdminDown: true, diag: 3 });
      expect(await adminDown(H.v4)).toBe(false);
      expect((await status(H.v4))?.info).not.toMatch(/held down/);
    } finally {
      await h.close();
      await g.setPeers(gPeers());
    }
  });

  it('FRR\'s link is cut: its session goes Down by detection time and its routes leave', async () => {
    const t0 = performance.now();
    await lab.exec(nsTor, 'ip', ['link', 'del', 'eth0']);
    await waitFor('FRR route withdrawn', async () => !learned().has(TOR_NET), 10000, 5);
    console.log(`BFD: route from FRR withdrawn ${(performance.now() - t0).toFixed(0)} ms after its link was cut (hold time 30 s)`);
    expect((await status(TOR.v4))?.bfd).toBe('down');
    expect(learned().has(B_NET4)).toBe(true);
  });

  it('reported no errors other than the peers being unreachable', () => {
    // Calls that met the gobgpd killed above may report after that test ended.
    const deadDaemon = /g\.sock: \w+: (read ECONNRESET|No connection established|Connection dropped)/;
    expect(errors.filter((e) => !/unreachable|EHOSTUNREACH|ENETUNREACH/i.test(e) && !deadDaemon.test(e))).toEqual([]);
  });
});
