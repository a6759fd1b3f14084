/**
 * The cluster's IPAM in the shape of Calico kube-controllers' IPAM metrics
 * (same names and labels, so existing dashboards and alerts apply):
 * allocations in use and borrowed and blocks per pool and node, pool sizes,
 * and garbage-collection candidates (addresses of nodes in their grace
 * period). Computed from one read of pools and blocks after each pass of the
 * leader; `ipamSamples` is pure.
 */
import { type IPPool, cidrSize, parseCidr } from '@terrace/api';
import { type BlockRecord, affinityNode, poolOfBlock, toPoolView } from '@terrace/ipam';

/** `ippool\0node` → count. */
export type PoolNodeCounts = Map<string, number>;

export interface IpamSamples {
  /** Allocations by pool and the node the address is used on (Calico: the allocation's node attribute). */
  inUse: PoolNodeCounts;
  /** Of those, addresses in a block affine to another node (or to none). */
  borrowed: PoolNodeCounts;
  /** Blocks by pool and affine node (`""` for a block whose node was released while others borrowed from it). */
  blocks: PoolNodeCounts;
  /** Addresses in each pool's CIDR. */
  poolSize: Map<string, number>;
  /** Allocations on nodes whose grace period runs: freed when it ends unless the node returns. */
  gcCandidates: PoolNodeCounts;
}

export function poolNodeKey(pool: string, node: string): string {
  return `${pool}\0${node}`;
}

export function splitPoolNodeKey(key: string): { ippool: string; node: string } {
  const i = key.indexOf('\0');
  return { ippool: key.slice(0, i), node: key.slice(i + 1) };
}

function add(m: PoolNodeCounts, pool: string, node: string, n = 1): void {
  const k = poolNodeKey(pool, node);
  m.set(k, (m.get(k) ?? 0) + n);
}

/** Blocks outside every pool (a pool deleted under them) count under ippool `""`. */
export function ipamSamples(pools: readonly IPPool[], blocks: readonly BlockRecord[], graceNodes: ReadonlySet<string>): IpamSamples {
  const views = pools.map((p) => toPoolView(p, '0'));
  const out: IpamSamples = { inUse: new Map(), borrowed: new Map(), blocks: new Map(), poolSize: new Map(), gcCandidates: new Map() };
  for (const p of views) out.poolSize.set(p.name, Number(cidrSize(p.cidr)));
  for (const b of blocks) {
    const pool = poolOfBlock(views, parseCidr(b.cidr))?.name ?? '';
    const affine = affinityNode(b.affinity);
    add(out.blocks, pool, affine ?? '');
    for (const a of Object.values(b.allocations)) {
      add(out.inUse, pool, a.node);
      if (a.node !== affine) add(out.borrowed, pool, a.node);
      if (graceNodes.has(a.node)) add(out.gcCandidates, pool, a.node);
    }
  }
  return out;
}
