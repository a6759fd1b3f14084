/**
 * Blocks of different sizes over one range. A pool's blockSize never
 * changes, but a pool can be deleted and created again over the same range
 * with another blockSize while blocks of the old size still hold addresses.
 * A block's key names its exact CIDR, so "is this block taken" by key alone
 * would miss them: claims and address look-ups consult these helpers.
 */
import { type Cidr, type IPAddr, cidrContainsIP, cidrEquals, cidrsOverlap } from '@terrace/api';
import type { Keys } from '@terrace/datastore';
import type { Etcd3 } from 'etcd3';
import { readKeys } from './kv.js';

/** Every stored block's CIDR (keys only: no values travel). */
export async function storedBlocks(etcd: Etcd3, keys: Keys): Promise<Cidr[]> {
  const out: Cidr[] = [];
  for (const k of await readKeys(etcd, keys.blockPrefix())) {
    const c = keys.parseBlock(k);
    if (c) out.push(c);
  }
  return out;
}

/** The first of `blocks` that overlaps `cidr` without being it. */
export function overlappingBlock(cidr: Cidr, blocks: Iterable<Cidr>): Cidr | undefined {
  for (const b of blocks) if (cidrsOverlap(b, cidr) && !cidrEquals(b, cidr)) return b;
  return undefined;
}

/** The stored block holding `ip`, whatever its size. */
export function blockHolding(ip: IPAddr, blocks: Iterable<Cidr>): Cidr | undefined {
  for (const b of blocks) if (cidrContainsIP(b, ip)) return b;
  return undefined;
}
