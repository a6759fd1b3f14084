/** Read-only views for `ipam show`: per pool, per block, and who holds an address. */
import { cidrSize, formatCidr, ordinalOf, parseCidr, parseIP } from '@terrace/api';
import type { Keys } from '@terrace/datastore';
import type { Etcd3 } from 'etcd3';
import { type BlockRecord, affinityNode, allocationAt, blockSize, decodeBlock, usedCount } from './block.js';
import { type ClusterView, type PoolView, poolOfBlock } from './cluster.js';
import { type FenceView, fencedMessage, fencesIn, heldMessage, isCleared } from './fence.js';
import { readKey, readPrefix } from './kv.js';
import { blockFor } from './release.js';
import type { BlockInfo, IPInfo } from './types.js';

export interface PoolUsage {
  name: string;
  cidr: string;
  /** Addresses in the pool (a decimal string: an IPv6 pool outgrows a number). */
  size: string;
  allocated: number;
  free: string;
  blocks: number;
  disabled: boolean;
  /** Only while a multi-cluster fence exists: why the pool is not cleared for allocation (see fence.ts). */
  held?: string;
  /** Only while a multi-cluster fence exists: the pool's ranges no new address comes from, one line each. */
  fenced?: string[];
}

export function blockInfo(rec: BlockRecord, pool: string | undefined): BlockInfo {
  const node = affinityNode(rec.affinity);
  return {
    cidr: rec.cidr,
    pool,
    node,
    used: usedCount(rec),
    size: blockSize(rec),
    borrowed: Object.values(rec.allocations).filter((a) => a.node !== node).length,
  };
}

export async function readBlocks(etcd: Etcd3, keys: Keys, view: ClusterView): Promise<BlockInfo[]> {
  const [pools, { kvs }] = await Promise.all([view.pools(), readPrefix(etcd, keys.blockPrefix())]);
  return kvs.map((kv) => {
    const rec = decodeBlock(kv.key, kv.text);
    return blockInfo(rec, poolOfBlock(pools, parseCidr(rec.cidr))?.name);
  });
}

export async function poolUsage(etcd: Etcd3, keys: Keys, view: ClusterView): Promise<PoolUsage[]> {
  const [pools, blocks, fence] = await Promise.all([view.pools(), readBlocks(etcd, keys, view), view.fence()]);
  return pools.map((p) => {
    const mine = blocks.filter((b) => b.pool === p.name);
    const allocated = mine.reduce((n, b) => n + b.used, 0);
    const size = cidrSize(p.cidr);
    return {
      name: p.name,
      cidr: formatCidr(p.cidr),
      size: size.toString(),
      allocated,
      free: (size - BigInt(allocated)).toString(),
      blocks: mine.length,
      disabled: p.disabled,
      ...(fence.doc ? fenceFields(fence, p) : {}),
    };
  });
}

function fenceFields(fence: FenceView, p: PoolView): Pick<PoolUsage, 'held' | 'fenced'> {
  const fenced = fencesIn(fence, p.cidr).map(fencedMessage);
  return { ...(isCleared(fence, p) ? {} : { held: heldMessage(fence, p.name) }), ...(fenced.length > 0 ? { fenced } : {}) };
}

/** Who holds `ipText`, or undefined when it is free (or in no block). */
export async function lookupIP(etcd: Etcd3, keys: Keys, view: ClusterView, ipText: string): Promise<IPInfo | undefined> {
  const ip = parseIP(ipText);
  const cidr = await blockFor(etcd, keys, view, ip);
  if (!cidr) return undefined;
  const bkey = keys.block(cidr);
  const b = await readKey(etcd, bkey);
  if (!b) return undefined;
  const rec = decodeBlock(bkey, b.text);
  const a = allocationAt(rec, ordinalOf(cidr, ip));
  if (!a) return undefined;
  const { handle, seq, time, node, ...rest } = a;
  return { ip: ipText, handle, node, ...rest, block: rec.cidr, seq, time };
}
