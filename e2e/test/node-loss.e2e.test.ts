/**
 * A node dies: its agent and gobgpd are killed and its namespace deleted.
 * The other nodes drop its routes when BFD on the mesh notices (100 ms × 3),
 * the ToR (no BFD in this lab) once the BGP hold time (3 s in the lab) runs
 * out; after the controller's grace period its addresses and
 * blocks are freed. The survivors keep talking throughout.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { destroyLab, TerraceLab, routesIn, waitUntil } from '../src/index.js';

interface BlockRow {
  cidr: string;
  node?: string;
}

let lab: TerraceLab;

async function blocks(): Promise<BlockRow[]> {
  return JSON.parse(await lab.mustCtl(['ipam', 'show', '--show-blocks', '-o', 'json'])) as BlockRow[];
}

beforeAll(async () => {
  lab = await TerraceLab.start({ nodes: 3, controllerGrace: '5s' });
}, 120000);

afterAll(async () => {
  expect(await destroyLab(lab)).toEqual([]);
}, 60000);

describe('node loss', () => {
  test('a dead node\'s routes are withdrawn everywhere and, after the grace period, its addresses freed', async () => {
    const x = await lab.addPod('node-3', 'x');
    const y = await lab.addPod('node-1', 'y');
    const z = await lab.addPod('node-2', 'z');
    await lab.waitPing(y.ns, x.ip, 20000);
    await lab.waitPing(z.ns, y.ip, 20000);
    const dead = (await blocks()).filter((b) => b.node === 'node-3').map((b) => b.cidr);
    expect(dead).toHaveLength(1);
    const block = dead[0] as string;
    const survivors = [lab.node('node-1').ns, lab.node('node-2').ns];
    for (const ns of survivors) expect((await routesIn(ns)).some((r) => r.dst === block)).toBe(true);
    expect((await routesIn(lab.torNs, 'bgp')).some((r) => r.dst === block)).toBe(true);

    await lab.killNode('node-3');

    // Routes go from every survivor (BFD) and the ToR (hold time 3 s), then the route sync.
    await waitUntil(`${block} withdrawn everywhere`, async () => {
      for (const ns of survivors) if ((await routesIn(ns)).some((r) => r.dst === block)) return false;
      return !(await routesIn(lab.torNs, 'bgp')).some((r) => r.dst === block);
    }, 20000, 100);
    // The survivors never lost each other.
    await lab.waitPing(z.ns, y.ip, 5000);

    // Lease (3 s) + grace (5 s) + a controller pass: the address and the block are given back.
    await waitUntil(`controller frees ${x.ip}`, async () => {
      const info = JSON.parse(await lab.mustCtl(['ipam', 'show', '--ip', x.ip, '-o', 'json'])) as { free?: boolean };
      return info.free === true;
    }, 40000, 500);
    await waitUntil(`controller releases ${block}`, async () => !(await blocks()).some((b) => b.cidr === block && b.node === 'node-3'), 20000, 500);
    // The survivors' pods keep their addresses.
    const yInfo = JSON.parse(await lab.mustCtl(['ipam', 'show', '--ip', y.ip, '-o', 'json'])) as { node?: string };
    expect(yInfo.node).toBe('node-1');
  }, 100000);
});
