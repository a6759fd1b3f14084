/**
 * A node cut off from etcd but not from its BGP peers, for longer than the
 * controller's --node-grace: nftables in node-1's namespace drop its packets
 * to etcd; its BGP sessions, its pods and its agent run on. Its liveness
 * lease runs out and its grace period ends, but node-2 (a BIRD node) still
 * learns node-1's block over BGP, so the controller holds the release: the
 * block stays node-1's and no pod elsewhere gets one of its addresses, even
 * from a pool so small (two blocks of four) that node-2 would have to take
 * that block once freed. Then the cut ends: node-1 is alive again and
 * `ipam check` finds nothing wrong.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { ControllerStatus, NodeStatus } from '@terrace/api';
import { destroyLab, ETCD_IP, mustRunIn, TerraceLab, waitUntil, type LabPod, type PingRun } from '../src/index.js';

const TINY = { name: 'tiny', cidr: '198.19.250.0/29', blockSize: 30 } as const;
const GRACE_S = 5;
/** The nftables table that cuts node-1 off from etcd (in node-1's namespace only). */
const CUT_TABLE = 'terrace-test-cutoff';

let lab: TerraceLab;

beforeAll(async () => {
  lab = await TerraceLab.start({ nodes: 2, birdNodes: [2], controllerGrace: `${GRACE_S}s`, extraPools: [TINY] });
}, 180_000);

afterAll(async () => {
  if (!lab) return;
  expect(await destroyLab(lab)).toEqual([]);
}, 60_000);

/** terracectl's reads give etcd 1 s; on a loaded machine one may miss it: try again. */
async function ctl(args: readonly string[]): Promise<string> {
  for (let i = 1; ; i++) {
    const r = await lab.ctl(args);
    if (r.code === 0) return r.stdout;
    if (i >= 4 || !/etcd unreachable/.test(r.stderr)) throw new Error(`terracectl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  }
}

interface BlockRow {
  cidr: string;
  node?: string;
}

async function blocksOf(node: string): Promise<string[]> {
  const rows = JSON.parse(await ctl(['ipam', 'show', '--show-blocks', '-o', 'json'])) as BlockRow[];
  return rows.filter((b) => b.node === node && b.cidr.startsWith('198.19.250.')).map((b) => b.cidr);
}

async function ownerOf(ip: string): Promise<string | undefined> {
  const info = JSON.parse(await ctl(['ipam', 'show', '--ip', ip, '-o', 'json'])) as { free?: boolean; node?: string };
  return info.free === true ? undefined : info.node;
}

async function controllerNode(node: string): Promise<ControllerStatus['nodes'][number] | undefined> {
  const out = JSON.parse(await ctl(['controller', 'status', '-o', 'json'])) as { status?: ControllerStatus };
  return out.status?.nodes.find((n) => n.node === node);
}

async function cut(ns: string): Promise<void> {
  const rules = [
    `table inet ${CUT_TABLE} {`,
    '  chain out { type filter hook output priority 0; policy accept; ip daddr ' + ETCD_IP + ' tcp dport 2379 drop; }',
    '  chain in { type filter hook input priority 0; policy accept; ip saddr ' + ETCD_IP + ' tcp sport 2379 drop; }',
    '}',
  ].join('\n');
  await mustRunIn(ns, 'nft', ['-f', '-'], { input: rules });
}

async function reconnect(ns: string): Promise<void> {
  await mustRunIn(ns, 'nft', ['delete', 'table', 'inet', CUT_TABLE]);
}

describe('a node cut off from etcd but not from BGP', () => {
  test('its addresses are held, never handed out again, and it is alive once reconnected', async () => {
    const victim = lab.node('node-1');
    const v = await lab.addPod('node-1', 'v', { pools: [TINY.name] });
    const w = await lab.addPod('node-2', 'w', { pools: [TINY.name] });
    await lab.waitPing(v.ns, w.ip, 20_000);
    const [held] = await blocksOf('node-1');
    expect(held).toBeDefined();

    const others: LabPod[] = [];
    let status: ControllerStatus['nodes'][number] | undefined;
    const during = async (): Promise<void> => {
      await cut(victim.ns);
      try {
        // Lease (3 s) + grace + a pass: node-1's grace is over (held, or released without the protection).
        await waitUntil('node-1 past its grace period', async () => ['held', 'released'].includes((await controllerNode('node-1'))?.state ?? ''), 60_000, 500);
        status = await controllerNode('node-1');
        // A few more passes (1 s apart), still held; meanwhile node-2 fills its own block and asks for more.
        for (let i = 0; i < 5; i++) {
          const out = await lab.addPod('node-2', `o${i}`, { pools: [TINY.name] }).catch((e: unknown) => e as Error);
          if (!(out instanceof Error)) others.push(out);
        }
        status = await controllerNode('node-1');
      } finally {
        await reconnect(victim.ns);
      }
    };
    const pings: PingRun = await lab.pingsDuring(v.ns, w.ip, during, 3000);
    console.log(`cut off from etcd: pod→pod ${pings.lost}/${pings.transmitted} lost (longest gap ${pings.longestGapMs} ms); held: ${status?.heldReason}`);
    if (status?.state !== 'held') console.log(`controller:\n${(lab.controller?.output() ?? '').split('\n').filter((l) => /node-|releas|liveness/.test(l)).slice(-20).join('\n')}`);
    // Nobody got v's address (without the protection node-2 takes node-1's freed block: a duplicate).
    expect(others.map((p) => p.ip)).not.toContain(v.ip);
    expect(status?.state).toBe('held');
    expect(status?.heldReason).toMatch(new RegExp(`^${held?.replace(/\./g, '\\.')} still announced, learned by node-2 via 198\\.18\\.0\\.11$`));
    expect(pings.lost).toBeLessThanOrEqual(Math.ceil(pings.transmitted * 0.01));
    // node-1 keeps its block and its pod.
    expect(await ownerOf(v.ip)).toBe('node-1');
    expect(await blocksOf('node-1')).toEqual([held]);

    await waitUntil('node-1 alive again', async () => (await controllerNode('node-1'))?.state === 'alive', 60_000, 500);
    await lab.waitPing(v.ns, w.ip, 10_000);
    const check = await lab.ctl(['ipam', 'check']);
    expect({ code: check.code, out: check.stdout }).toMatchObject({ code: 0 });
  }, 170_000);

  test('the returning agent reports loudly a pod address that was taken meanwhile', async () => {
    const v = lab.pods.get('v') as LabPod;
    await cut(lab.node('node-1').ns);
    try {
      const seen = new Set<string>();
      await waitUntil('node-1 held again', async () => {
        const n = await controllerNode('node-1');
        seen.add(`${n?.state}: ${n?.heldReason ?? ''}`);
        return n?.state === 'held';
      }, 60_000, 500).catch((e: Error) => {
        const said = (d: { output(): string } | undefined): string => (d?.output() ?? '').split('\n').filter((l) => /node-|dead|release|route query|liveness/.test(l)).slice(-25).join('\n');
        throw new Error(`${e.message} (seen ${[...seen].join('; ')})\ncontroller:\n${said(lab.controller)}\nnode-2:\n${said(lab.node('node-2').agent)}`);
      });
      // An operator frees v's address by hand while node-1 is away, and node-2 hands it out again.
      await ctl(['ipam', 'release', '--ip', v.ip]);
      const got = [await lab.addPod('node-2', 't1', { pools: [TINY.name] }), await lab.addPod('node-2', 't2', { pools: [TINY.name] })];
      expect(got.map((p) => p.ip)).toContain(v.ip);
    } finally {
      await reconnect(lab.node('node-1').ns);
    }
    const agent = lab.node('node-1').agent;
    const conflicts = await waitUntilValue('node-1 to report the taken address', async () => {
      const s = JSON.parse(await ctl(['node', 'status', 'node-1', '-o', 'json'])) as NodeStatus;
      return s.addressConflicts?.length ? s.addressConflicts : undefined;
    }).catch((e: Error) => {
      throw new Error(`${e.message}; node-1's agent said:\n${agent?.output().split('\n').filter((l) => /lease|taken|conflict|cannot|checked/.test(l)).slice(-15).join('\n')}`);
    });
    expect(agent?.output()).toContain(`pod address ${v.ip} (device `);
    expect(conflicts).toEqual([{ address: v.ip, dev: expect.any(String), holder: 'node-2', holderPod: expect.stringMatching(/\/t[12]$/) }]);
    const table = await ctl(['node', 'status', 'node-1']);
    expect(table).toContain(`TAKEN: pod address ${v.ip}`);
  }, 120_000);
});

async function waitUntilValue<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  let value: T | undefined;
  await waitUntil(what, async () => (value = await read()) !== undefined, timeoutMs, 500);
  return value as T;
}
