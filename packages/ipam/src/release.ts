/**
 * Releasing addresses, by handle or by address. Each release writes the
 * block and the handle in one transaction comparing both revisions, and
 * frees an address only while the allocation named by (ordinal, seq) still
 * holds it, so a late release never frees an address given out since.
 */
import { type Cidr, type IPAddr, TerraceError, formatIP, ordinalOf, parseIP, subnetContaining } from '@terrace/api';
import type { Keys } from '@terrace/datastore';
import type { Etcd3 } from 'etcd3';
import { type Allocation, type BlockRecord, allocationAt, decodeBlock, encodeBlock, isEmpty, unassign } from './block.js';
import type { ClusterView } from './cluster.js';
import { type HandleIP, type HandleRecord, decodeHandle, encodeHandle, withoutIP } from './handle.js';
import { type KV, readKey } from './kv.js';
import { blockHolding, storedBlocks } from './overlap.js';
import { type PodRef, legacyPodHandle, podHandle } from './pod.js';
import type { ReleasedIP } from './types.js';

const MAX_ATTEMPTS = 50;

/** Puts the block back, or deletes it when it is empty and no node holds it. */
export function blockWriteOp(etcd: Etcd3, key: string, b: BlockRecord) {
  return b.affinity === null && isEmpty(b) ? etcd.delete().key(key) : etcd.put(key).value(encodeBlock(b));
}

export function handleWriteOp(etcd: Etcd3, key: string, h: HandleRecord | null) {
  return h === null ? etcd.delete().key(key) : etcd.put(key).value(encodeHandle(h));
}

/**
 * Removes one handle entry and its allocation (if that allocation is still
 * the one the entry names) in one transaction. Returns what was freed,
 * undefined for a dangling entry, 'conflict' to retry, or 'skip' when
 * `owns` is given and the allocation is not (or no longer) one it accepts:
 * then nothing is written.
 */
async function releaseEntry(
  etcd: Etcd3,
  keys: Keys,
  h: KV,
  rec: HandleRecord,
  e: HandleIP,
  owns?: (a: Allocation) => boolean,
): Promise<ReleasedIP | undefined | 'conflict' | 'skip'> {
  const bkey = keys.block(e.block);
  const b = await readKey(etcd, bkey);
  const block = b ? decodeBlock(bkey, b.text) : undefined;
  if (owns) {
    const a = block ? allocationAt(block, e.ordinal) : undefined;
    if (!a || a.seq !== e.seq || a.handle !== rec.handle || !owns(a)) return 'skip';
  }
  const next = block ? unassign(block, e.ordinal, e.seq, rec.handle) : undefined;
  const ops = [handleWriteOp(etcd, h.key, withoutIP(rec, e.block, e.ordinal, e.seq))];
  if (next) ops.push(blockWriteOp(etcd, bkey, next));
  const res = await etcd
    .if(h.key, 'Mod', '==', h.mod)
    .and(bkey, 'Mod', '==', b?.mod ?? 0)
    .then(...ops)
    .commit();
  if (!res.succeeded) return 'conflict';
  return next ? { ip: e.ip, handle: rec.handle, block: e.block, seq: e.seq } : undefined;
}

/**
 * Releases what `handle` holds (only the entry with `seq`, when given).
 * With `owns`, only entries whose allocation it accepts; the others, and
 * the handle record's entries for them, are left as they are.
 */
export async function releaseByHandle(etcd: Etcd3, keys: Keys, handle: string, seq?: number, owns?: (a: Allocation) => boolean): Promise<ReleasedIP[]> {
  const out: ReleasedIP[] = [];
  const skipped = new Set<string>();
  let conflicts = 0;
  for (;;) {
    const h = await readKey(etcd, keys.handle(handle));
    if (!h) return out;
    const rec = decodeHandle(h.key, h.text);
    const e = rec.ips.find((x) => (seq === undefined || x.seq === seq) && !skipped.has(`${x.block}|${x.ordinal}|${x.seq}`));
    if (!e) return out;
    const r = await releaseEntry(etcd, keys, h, rec, e, owns);
    if (r === 'conflict') {
      if (++conflicts >= MAX_ATTEMPTS) throw new TerraceError('Conflict', `release handle ${handle}: gave up after ${conflicts} conflicting attempts`);
      continue;
    }
    if (r === 'skip') skipped.add(`${e.block}|${e.ordinal}|${e.seq}`);
    else if (r) out.push(r);
  }
}

/**
 * Releases a pod interface (CNI DEL and GC): everything its handle holds,
 * then what an older agent stored under the old, ambiguous handle form
 * (`<network>.<containerID>.<ifname>`, see pod.ts). An old-form handle may
 * be shared by two interfaces, so from it only allocations whose own
 * containerID and iface are this interface's are freed; one that names
 * another interface, or none, is left alone (`ipam check` reports it).
 * Each address is freed in one transaction comparing the block's and the
 * handle's revisions, as every release is.
 */
export async function releasePod(etcd: Etcd3, keys: Keys, pod: PodRef): Promise<ReleasedIP[]> {
  const out = await releaseByHandle(etcd, keys, podHandle(pod.network, pod.containerId, pod.ifname));
  const old = legacyPodHandle(pod.network, pod.containerId, pod.ifname);
  if (old !== undefined) {
    out.push(...(await releaseByHandle(etcd, keys, old, undefined, (a) => a.containerID === pod.containerId && a.iface === pod.ifname)));
  }
  return out;
}

/**
 * The block CIDR that would hold `ip`: from its pool, or (pool deleted, or
 * re-created with another blockSize) from the existing blocks.
 */
export async function blockFor(etcd: Etcd3, keys: Keys, view: ClusterView, ip: IPAddr): Promise<Cidr | undefined> {
  const pool = (await view.pools()).find((p) => p.cidr.family === ip.family && ordinalOf(p.cidr, ip) >= 0);
  const fromPool = pool ? subnetContaining(pool.cidr, pool.blockSize, ip) : undefined;
  if (fromPool && (await readKey(etcd, keys.block(fromPool)))) return fromPool;
  return blockHolding(ip, await storedBlocks(etcd, keys)) ?? fromPool;
}

export async function releaseByIP(etcd: Etcd3, keys: Keys, view: ClusterView, ipText: string, seq?: number, handle?: string): Promise<ReleasedIP[]> {
  const ip = parseIP(ipText);
  const cidr = await blockFor(etcd, keys, view, ip);
  if (!cidr) return [];
  const bkey = keys.block(cidr);
  const ordinal = ordinalOf(cidr, ip);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const b = await readKey(etcd, bkey);
    if (!b) return [];
    const rec = decodeBlock(bkey, b.text);
    const a = allocationAt(rec, ordinal);
    if (!a || (seq !== undefined && a.seq !== seq) || (handle !== undefined && a.handle !== handle)) return [];
    const hkey = keys.handle(a.handle);
    const h = await readKey(etcd, hkey);
    const next = unassign(rec, ordinal, a.seq, a.handle) as BlockRecord;
    const ops = [blockWriteOp(etcd, bkey, next)];
    if (h) ops.push(handleWriteOp(etcd, hkey, withoutIP(decodeHandle(hkey, h.text), rec.cidr, ordinal, a.seq)));
    const res = await etcd
      .if(bkey, 'Mod', '==', b.mod)
      .and(hkey, 'Mod', '==', h?.mod ?? 0)
      .then(...ops)
      .commit();
    if (res.succeeded) return [{ ip: formatIP(ip), handle: a.handle, block: rec.cidr, seq: a.seq }];
  }
  throw new TerraceError('Conflict', `release ${ipText}: gave up after ${MAX_ATTEMPTS} conflicting attempts`);
}
