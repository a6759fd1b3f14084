/**
 * natOutgoing on a one-rack lab with a GoBGP node (node-1) and a BIRD node
 * (node-2), and a host out on the "internet" behind the ToR that echoes the
 * address each request came from. A natOutgoing pool's pods reach it as their
 * node's fabric address; the lab's plain pool's pods as themselves (the ToR
 * routes the replies by the blocks it learned over BGP). Pod to pod traffic
 * keeps pod addresses, and turning natOutgoing off ends the masquerade and
 * takes the node's table away.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { destroyLab, INTERNET_IP, TerraceLab, poolManifest, runIn, seenAs, startAddressEcho, waitUntil, type LabPod, type PoolDef } from '../src/index.js';

const NAT_POOL: PoolDef = { name: 'nat-out', cidr: '198.19.160.0/20', blockSize: 26, natOutgoing: true };
const NODES = ['node-1', 'node-2'];

let lab: TerraceLab;
const nat: LabPod[] = [];
const plain: LabPod[] = [];

/** What the internet host sees of `pod`, once it is reachable at all (routes may still be propagating). */
async function internetSees(pod: LabPod): Promise<string> {
  let seen: string | undefined;
  await waitUntil(`${pod.name} reaching the internet host`, async () => (seen = await seenAs(pod.ns, INTERNET_IP)) !== undefined, 30000, 200);
  return seen as string;
}

/** Waits until `terracectl node status` reports `line` as the node's NAT state (the agent publishes every 2 s). */
async function statusSays(node: string, line: string): Promise<void> {
  let last = '';
  await waitUntil(`${node}'s status to say ${line}`, async () => (last = await lab.mustCtl(['node', 'status', node])).includes(line), 20000, 500).catch((e: Error) => {
    throw new Error(`${e.message}; last:\n${last}`);
  });
}

async function natTable(node: string): Promise<string | undefined> {
  const r = await runIn(lab.node(node).ns, 'nft', ['list', 'table', 'inet', 'terrace-nat']);
  return r.code === 0 ? r.stdout : undefined;
}

beforeAll(async () => {
  lab = await TerraceLab.start({ nodes: 2, birdNodes: [2], internet: true, extraPools: [NAT_POOL] });
  await startAddressEcho(lab.kit, lab.internetNs as string);
  for (const node of NODES) {
    const i = node.slice(-1);
    nat.push(await lab.addPod(node, `nat${i}`, { pools: [NAT_POOL.name] }));
    plain.push(await lab.addPod(node, `plain${i}`));
  }
}, 180000);

afterAll(async () => {
  expect(await destroyLab(lab)).toEqual([]);
}, 60000);

describe('natOutgoing, GoBGP and BIRD nodes', () => {
  test('the internet host sees the node address for natOutgoing pods and the pod address for the others', async () => {
    for (const pod of nat) expect(await internetSees(pod)).toBe(lab.node(pod.node).ip);
    for (const pod of plain) expect(await internetSees(pod)).toBe(pod.ip);
    for (const node of NODES) expect(await natTable(node)).toContain('masquerade');
    for (const node of NODES) await statusSays(node, 'NAT: table inet terrace-nat in place');
  }, 120000);

  test('pod to pod across nodes keeps the pod addresses, from and to natOutgoing pods', async () => {
    const [n1, n2] = nat as [LabPod, LabPod];
    const [p1, p2] = plain as [LabPod, LabPod];
    await startAddressEcho(lab.kit, n1.ns);
    await startAddressEcho(lab.kit, n2.ns);
    await startAddressEcho(lab.kit, p2.ns);
    const seen = async (from: LabPod, to: LabPod): Promise<string | undefined> => {
      let s: string | undefined;
      await waitUntil(`${from.name} → ${to.name}`, async () => (s = await seenAs(from.ns, to.ip)) !== undefined, 30000, 200);
      return s;
    };
    expect(await seen(n1, n2)).toBe(n1.ip);
    expect(await seen(n2, n1)).toBe(n2.ip);
    expect(await seen(n1, p2)).toBe(n1.ip);
    expect(await seen(p1, n2)).toBe(p1.ip);
  }, 120000);

  test('turning natOutgoing off ends the masquerade and removes the table', async () => {
    await lab.apply(poolManifest({ ...NAT_POOL, natOutgoing: false }));
    for (const node of NODES) await waitUntil(`${node} to drop its NAT table`, async () => (await natTable(node)) === undefined, 30000, 200);
    for (const pod of nat) expect(await internetSees(pod)).toBe(pod.ip);
    for (const node of NODES) await statusSays(node, 'NAT: no pool has natOutgoing, no table');
  }, 120000);
});
