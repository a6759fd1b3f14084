/**
 * Session features against FRR on the ToR, on both backends at once: node-1
 * drives gobgpd, node-2 BIRD. TCP MD5 on the mesh (nodeMeshPassword) and to
 * the ToR (BGPPeer password): the right password establishes, a wrong one on
 * the ToR does not and `terracectl node status` says why, and the password
 * shows nowhere an operator looks; two nodes with different mesh passwords do
 * not peer either, and say why. Then keepaliveTime, maxRestartTime and
 * ttlSecurity as FRR sees them, and a BGPConfiguration listenPort other than
 * 179 (nothing then listens on 179, so the mesh comes up only by dialling
 * it). The scenarios run in order on one lab.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { destroyLab, TerraceLab, mustRunIn, waitUntil } from '../src/index.js';

let lab: TerraceLab;
const TOR = '198.18.0.1';
/** The lab's ToR peer (one BGPPeer for every node). */
const PEERS = ['tor'];
// Per-run values, so that a hit in a search can only come from this run.
const TOR_PASSWORD = `tor-${process.pid}-Wq7z`;
const MESH_PASSWORD = `mesh-${process.pid}-Kp3x`;

const MD5_WRONG = /^\S+\s+\S.*\s(Active|Connect|OpenSent)\s.*TCP MD5 signatures fail here \(TCPMD5Failure \+\d+\): the password differs from the peer's/;

/** The session line for `address` in `terracectl node status` text ('' when absent). */
function statusLine(text: string, address: string): string {
  return text.split('\n').find((l) => l.startsWith(`${address} `)) ?? '';
}

function nodeIps(): string[] {
  return [...lab.nodes.values()].map((n) => n.ip);
}

async function patchPeers(spec: Record<string, unknown>): Promise<void> {
  for (const p of PEERS) await lab.mustCtl(['patch', 'bgppeer', p, '-p', JSON.stringify({ spec })]);
}

async function torState(ip: string): Promise<string> {
  return (await lab.tor!.neighbors(4))[ip]?.state ?? 'none';
}

interface FrrNeighborDoc {
  bgpState?: string;
  bgpTimerHoldTimeMsecs?: number;
  bgpTimerKeepAliveIntervalMsecs?: number;
  gracefulRestartInfo?: { timers?: { receivedRestartTimer?: number } };
}

async function torNeighbor(ip: string): Promise<FrrNeighborDoc | undefined> {
  return (JSON.parse(await lab.tor!.vtysh(`show bgp neighbors ${ip} json`)) as Record<string, FrrNeighborDoc>)[ip];
}

/** The ToR's sessions with `ips` stay down for `ms` (sampled). */
async function staysDown(ips: readonly string[], ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    for (const ip of ips) expect(`${ip} ${await torState(ip)}`).not.toBe(`${ip} Established`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

beforeAll(async () => {
  lab = await TerraceLab.start({ nodes: 2, birdNodes: [2] });
}, 120000);

afterAll(async () => {
  expect(await destroyLab(lab)).toEqual([]);
}, 60000);

describe('TCP MD5', () => {
  test('the right password on the mesh and to the ToR: every session comes up with it', async () => {
    lab.writeSecret('bgp', 'tor', TOR_PASSWORD);
    lab.writeSecret('bgp', 'mesh', MESH_PASSWORD);
    await lab.tor!.configureBgp(nodeIps().map((ip) => `neighbor ${ip} password ${TOR_PASSWORD}`));
    await patchPeers({ password: { secretKeyRef: { name: 'bgp', key: 'tor' } } });
    await lab.mustCtl(['patch', 'bgpconfiguration', 'default', '-p', JSON.stringify({ spec: { nodeMeshPassword: { secretKeyRef: { name: 'bgp', key: 'mesh' } } } })]);
    // Both daemons got it: BIRD's file (owner-only) and gobgpd's neighbor configuration.
    const birdDir = lab.node('node-2').birdDir as string;
    await waitUntil('bird.conf with both passwords', () => {
      const conf = readFileSync(join(birdDir, 'bird.conf'), 'utf8');
      return conf.includes(`password "${TOR_PASSWORD}"`) && conf.includes(`password "${MESH_PASSWORD}"`);
    }, 20000, 200);
    expect((statSync(join(birdDir, 'bird.conf')).mode & 0o777).toString(8)).toBe('600');
    await waitUntil('gobgpd with the mesh password', async () => (await mustRunIn(lab.node('node-1').ns, 'gobgp', ['-j', 'neighbor', lab.node('node-2').ip])).includes(MESH_PASSWORD), 20000, 200);
    await lab.waitSessions(60000);
  }, 120000);

  test('a wrong password on the ToR: the sessions stay down and node status says why', async () => {
    await lab.tor!.configureBgp(nodeIps().map((ip) => `neighbor ${ip} password wrong-${TOR_PASSWORD}`));
    for (const n of lab.nodes.values()) {
      let text = '';
      await waitUntil(`${n.name}: node status names the MD5 failure`, async () => {
        text = await lab.mustCtl(['node', 'status', n.name]);
        return MD5_WRONG.test(statusLine(text, TOR));
      }, 30000, 500).catch(() => expect(statusLine(text, TOR)).toMatch(MD5_WRONG));
      console.log(`${n.name} (${n.backend}) status with a wrong ToR password:\n${text}`);
    }
    await staysDown(nodeIps(), 3000);
    await lab.tor!.configureBgp(nodeIps().map((ip) => `neighbor ${ip} password ${TOR_PASSWORD}`));
    await lab.waitSessions(60000);
  }, 120000);

  test('different mesh passwords on two nodes: the mesh session stays down and node status says why', async () => {
    const [n1, n2] = [lab.node('node-1'), lab.node('node-2')];
    lab.writeSecret('bgp', 'mesh2', MESH_PASSWORD, [n1.name]);
    lab.writeSecret('bgp', 'mesh2', `other-${MESH_PASSWORD}`, [n2.name]);
    const meshKey = (key: string) => ['patch', 'bgpconfiguration', 'default', '-p', JSON.stringify({ spec: { nodeMeshPassword: { secretKeyRef: { name: 'bgp', key } } } })];
    await lab.mustCtl(meshKey('mesh2'));
    for (const [me, other] of [[n1, n2], [n2, n1]] as const) {
      let text = '';
      await waitUntil(`${me.name}: node status names the MD5 failure on the mesh`, async () => {
        text = await lab.mustCtl(['node', 'status', me.name]);
        return MD5_WRONG.test(statusLine(text, other.ip));
      }, 30000, 500).catch(() => expect(statusLine(text, other.ip)).toMatch(MD5_WRONG));
    }
    await lab.mustCtl(meshKey('mesh'));
    await lab.waitSessions(60000);
  }, 120000);

  test('the passwords appear in no agent log, node status or terracectl output', async () => {
    const outputs: [string, string][] = [];
    for (const n of lab.nodes.values()) {
      outputs.push([`${n.name} agent log`, n.agent?.output() ?? '']);
      outputs.push([`${n.name} node status`, await lab.mustCtl(['node', 'status', n.name])]);
      outputs.push([`${n.name} node status -o json`, await lab.mustCtl(['node', 'status', n.name, '-o', 'json']).catch((e: Error) => e.message)]);
    }
    for (const kind of ['bgppeers', 'bgpconfigurations']) {
      for (const fmt of ['yaml', 'json', 'wide']) outputs.push([`get ${kind} -o ${fmt}`, await lab.mustCtl(['get', kind, '-o', fmt])]);
    }
    expect(outputs.find(([, text]) => text.includes('secretKeyRef'))).toBeDefined();
    const leaks = outputs.filter(([, text]) => text.includes(TOR_PASSWORD) || text.includes(MESH_PASSWORD)).map(([where]) => where);
    expect(leaks).toEqual([]);
  }, 60000);
});

describe('timers, graceful restart time, GTSM, listen port', () => {
  test('keepaliveTime, maxRestartTime and ttlSecurity reach FRR from both backends', async () => {
    // FRR offers 10/30: the negotiated hold time is the smaller offer, so 6 s
    // can only come from the nodes' keepaliveTime of 2 s (hold 3 × 2 s).
    await lab.tor!.configureBgp(nodeIps().flatMap((ip) => [`neighbor ${ip} timers 10 30`, `neighbor ${ip} ttl-security hops 1`]));
    await patchPeers({ keepaliveTime: '2s', maxRestartTime: '77s', ttlSecurity: 1 });
    await lab.tor!.vtysh('clear bgp *');
    await lab.waitSessions(60000);
    for (const n of lab.nodes.values()) {
      let doc: FrrNeighborDoc | undefined;
      await waitUntil(`${n.name}: FRR sees the node's timers`, async () => {
        doc = await torNeighbor(n.ip);
        return doc?.bgpState === 'Established' && doc.bgpTimerHoldTimeMsecs === 6000 && doc.gracefulRestartInfo?.timers?.receivedRestartTimer === 77;
      }, 30000, 300).catch(() => undefined);
      expect({
        node: n.name,
        hold: doc?.bgpTimerHoldTimeMsecs,
        keepalive: doc?.bgpTimerKeepAliveIntervalMsecs,
        restart: doc?.gracefulRestartInfo?.timers?.receivedRestartTimer,
      }).toEqual({ node: n.name, hold: 6000, keepalive: 2000, restart: 77 });
    }
  }, 120000);

  test('without ttlSecurity the nodes send TTL 1, and the ToR with GTSM refuses them', async () => {
    await patchPeers({ ttlSecurity: null });
    await lab.tor!.vtysh('clear bgp *');
    await waitUntil('the ToR sessions down', async () => (await Promise.all(nodeIps().map(torState))).every((s) => s !== 'Established'), 20000, 200);
    await staysDown(nodeIps(), 8000);
    await patchPeers({ ttlSecurity: 1 });
    await lab.waitSessions(60000);
  }, 120000);

  test('listenPort 1790: nodes listen on it (not on 179) and the mesh dials it; the ToR, told the port, keeps its sessions', async () => {
    await lab.tor!.configureBgp(nodeIps().map((ip) => `neighbor ${ip} port 1790`));
    await lab.mustCtl(['patch', 'bgpconfiguration', 'default', '-p', JSON.stringify({ spec: { listenPort: 1790 } })]);
    await lab.waitSessions(60000);
    for (const n of lab.nodes.values()) {
      const listening = await mustRunIn(n.ns, 'ss', ['-Hltn']);
      expect(`${n.name} ${/:1790\b/.test(listening)} ${/:179\b/.test(listening)}`).toBe(`${n.name} true false`);
    }
  }, 120000);
});
