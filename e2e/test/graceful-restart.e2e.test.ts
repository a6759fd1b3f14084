/**
 * Graceful restart, both backends: node-1 and node-2 drive gobgpd sidecars,
 * node-3 a BIRD sidecar; every session has graceful restart (Terrace's
 * default, 120 s) and so has the ToR (`bgp graceful-restart`). A node's BGP
 * daemon is SIGKILLed and started again while a pod on another node pings a
 * pod on it: the ToR and the other nodes keep the node's routes throughout
 * (sampled), and the node keeps its own kernel routes, so no echo should be
 * lost. Without graceful restart (the lab's default) the same kill of BIRD
 * lost about 310 echoes and of gobgpd about 550.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { destroyLab, TerraceLab, routesIn, waitUntil, type RouteEntry } from '../src/index.js';

interface BlockRow {
  cidr: string;
  node?: string;
}

let lab: TerraceLab;
const BIRD_NODE = 'node-3';

async function blocksOf(node: string): Promise<string[]> {
  const rows = JSON.parse(await lab.mustCtl(['ipam', 'show', '--show-blocks', '-o', 'json'])) as BlockRow[];
  return rows.filter((b) => b.node === node).map((b) => b.cidr);
}

function gateways(r: RouteEntry): string[] {
  return r.gateway ? [r.gateway] : (r.nexthops ?? []).map((h) => h.gateway ?? '');
}

/** Where `node`'s blocks are not routed via it right now: `tor 198.19.0.64/26`, ... */
async function missingRoutes(node: string, cidrs: readonly string[]): Promise<string[]> {
  const owner = lab.node(node).ip;
  const places: [string, string][] = [
    ['tor', lab.torNs],
    ...[...lab.nodes.values()].filter((n) => n.name !== node).map((n): [string, string] => [n.name, n.ns]),
  ];
  const missing: string[] = [];
  for (const [label, ns] of places) {
    const table = await routesIn(ns, label === 'tor' ? 'bgp' : undefined);
    for (const c of cidrs) {
      const r = table.find((x) => x.dst === c);
      if (!r || !gateways(r).includes(owner)) missing.push(`${label} ${c}`);
    }
  }
  return missing;
}

interface FrrGrInfo {
  remoteGrMode?: string;
  rBit?: boolean;
  timers?: { receivedRestartTimer?: number };
  ipv4Unicast?: { fBit?: boolean; endOfRibStatus?: { endOfRibRecv?: boolean } };
}

/** FRR's graceful-restart view of one neighbor (`show bgp neighbors A json`). */
async function torGrInfo(address: string): Promise<FrrGrInfo | undefined> {
  const doc = JSON.parse(await (lab.tor as NonNullable<typeof lab.tor>).vtysh(`show bgp neighbors ${address} json`)) as Record<string, { gracefulRestartInfo?: FrrGrInfo }>;
  return doc[address]?.gracefulRestartInfo;
}

/**
 * Runs `disrupt` while pinging `toPod` from `fromPod` and sampling, every
 * 100 ms, that `node`'s blocks stay routed via it on the ToR and every other
 * node. Resolves with the ping counts and every sample that missed a route.
 */
async function restartUnderTraffic(node: string, fromPod: string, toPod: string, disrupt: () => Promise<void>) {
  const cidrs = await blocksOf(node);
  expect(cidrs.length).toBeGreaterThan(0);
  await waitUntil(`${node}'s blocks routed everywhere`, async () => (await missingRoutes(node, cidrs)).length === 0, 20000, 200);
  const misses: string[] = [];
  let sampling = true;
  let samples = 0;
  const sampler = (async () => {
    while (sampling) {
      const m = await missingRoutes(node, cidrs);
      samples++;
      if (m.length > 0) misses.push(`${new Date().toISOString()} ${m.join(', ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  let ping;
  try {
    // 8 s after the restart: sessions come back and End-of-RIB ends the stale period meanwhile.
    ping = await lab.pingsDuring(lab.pod(fromPod).ns, lab.pod(toPod).ip, disrupt, 8000);
  } finally {
    sampling = false;
    await sampler;
  }
  return { ping, misses, samples };
}

beforeAll(async () => {
  lab = await TerraceLab.start({ nodes: 3, birdNodes: [3], gracefulRestart: true });
  await lab.addPod('node-1', 'a');
  await lab.addPod('node-2', 'b');
  await lab.addPod(BIRD_NODE, 'c');
}, 180000);

afterAll(async () => {
  expect(await destroyLab(lab)).toEqual([]);
}, 60000);

describe('graceful restart of a node\'s BGP daemon', () => {
  test('the ToR negotiated graceful restart with every node', async () => {
    // FRR names the mode the node advertised: Restart (restarting speaker and helper), Helper, Disable.
    const modes = async (): Promise<string[]> =>
      Promise.all([...lab.nodes.values()].map(async (n) => `${n.name} ${(await torGrInfo(n.ip))?.remoteGrMode}`));
    await waitUntil('graceful restart negotiated with every node', async () => (await modes()).every((m) => m.endsWith(' Restart')), 15000, 200).catch(
      async () => expect(await modes()).toEqual([...lab.nodes.keys()].map((n) => `${n} Restart`)),
    );
  }, 30000);

  test('gobgpd on a GoBGP node killed and started again: its routes stay everywhere, pings go on', async () => {
    const r = await restartUnderTraffic('node-2', 'a', 'b', async () => {
      await lab.stopGobgpd('node-2');
      await new Promise((res) => setTimeout(res, 1000));
      lab.startGobgpd('node-2');
    });
    console.log(`gobgpd restart with graceful restart: ${JSON.stringify(r.ping)}; ${r.samples} route samples, ${r.misses.length} missing`);
    expect(r.misses).toEqual([]);
    // The node kept its kernel routes too: the echo replies crossed it throughout.
    expect(r.ping.lost).toBeLessThanOrEqual(10);
    // The new gobgpd said it restarted with its forwarding state kept (R and
    // F bits): that is what lets the ToR keep the node's routes until the new
    // gobgpd's End-of-RIB instead of dropping them when the session returns.
    // Read once the new gobgpd's session is up: before that FRR reports the
    // mode as NotApplicable, with no bits (seen on a loaded machine).
    let info: FrrGrInfo | undefined;
    await waitUntil('node-2 back in session with the ToR', async () => {
      info = await torGrInfo(lab.node('node-2').ip);
      return info !== undefined && info.remoteGrMode !== 'NotApplicable';
    }, 30000, 200);
    console.log(`ToR's view of node-2 after the restart: ${JSON.stringify(info)}`);
    expect(info?.rBit).toBe(true);
    expect(info?.ipv4Unicast?.fBit).toBe(true);
    // The new gobgpd sends its table and End-of-RIB once its peers have sent
    // theirs (it defers while restarting): the ToR's stale period ends then.
    await waitUntil("the ToR has node-2's End-of-RIB", async () => (await torGrInfo(lab.node('node-2').ip))?.ipv4Unicast?.endOfRibStatus?.endOfRibRecv === true, 30000, 200);
    await lab.waitSessions(30000);
    await lab.waitPing(lab.pod('c').ns, lab.pod('b').ip, 5000);
  }, 120000);

  test('BIRD on the BIRD node killed and started with -R: its routes stay everywhere, pings go on', async () => {
    let pids = { oldPid: 0, newPid: 0 };
    const r = await restartUnderTraffic(BIRD_NODE, 'a', 'c', async () => {
      pids = await lab.killBird(BIRD_NODE);
    });
    console.log(`BIRD restart (-R) with graceful restart (pid ${pids.oldPid} → ${pids.newPid}): ${JSON.stringify(r.ping)}; ${r.samples} route samples, ${r.misses.length} missing`);
    expect(pids.newPid).not.toBe(pids.oldPid);
    expect(r.misses).toEqual([]);
    expect(r.ping.lost).toBeLessThanOrEqual(10);
    await lab.waitSessions(30000);
    await lab.waitPing(lab.pod('b').ns, lab.pod('c').ip, 5000);
  }, 120000);
});
