/**
 * The one transaction that hands out addresses: it writes a block and the
 * handles of every request it serves, comparing the revision of each one
 * read, and the multi-cluster fence's revision ("0" when there is none): a
 * fence written after the ordinals were chosen fails it. With several
 * requests it is the group commit: one fsync for many.
 */
import type { IPFamily } from '@terrace/api';
import type { Keys } from '@terrace/datastore';
import type { Etcd3 } from 'etcd3';
import type { BlockTarget } from './affinity.js';
import type { WatchedFence } from './fence.js';
import { type AllocationAttrs, assign, decodeBlock, encodeBlock, ipOf } from './block.js';
import { type HandleIP, type HandleRecord, decodeHandle, encodeHandle, withIP } from './handle.js';
import { rangeKV } from './kv.js';
import type { AllocatedIP } from './types.js';

/** A request waiting for an address of one family, with what is known of its handle. */
export interface Waiter {
  handle: string;
  attrs: AllocationAttrs;
  family: IPFamily;
  /** mod_revision of the handle key as last seen; "0" means absent. */
  handleRev: string;
  handleRec: HandleRecord | undefined;
  settled: boolean;
  resolve(r: { ip: AllocatedIP; fresh: boolean }): void;
  reject(e: unknown): void;
}

export function toAllocated(e: HandleIP, family: IPFamily): AllocatedIP {
  return { ip: e.ip, family, block: e.block, ordinal: e.ordinal, seq: e.seq };
}

export function settle(w: Waiter, r: { ip: AllocatedIP; fresh: boolean } | { error: unknown }): void {
  if (w.settled) return;
  w.settled = true;
  if ('error' in r) w.reject(r.error);
  else w.resolve(r);
}

export type CommitOutcome =
  | { ok: true }
  /**
   * `blockGone`: the block was deleted, or (for an affine target) is no longer ours.
   * `fence`: the fence key as the failed transaction read it back (give it to ClusterView.noteFence).
   */
  | { ok: false; blockGone: boolean; fence: WatchedFence };

/**
 * Gives `ordinals[i]` of `target` to `items[i]`, only if the fence key is
 * still at `fenceRev` (the ordinals were chosen outside the fence of that
 * revision). On success, settles them and advances `target`; on conflict,
 * refreshes `target` and each waiter's handle from the values the failed
 * transaction read back, and returns the fence it read back.
 */
export async function commitAssign(
  etcd: Etcd3,
  keys: Keys,
  target: BlockTarget,
  items: { w: Waiter; ordinal: number }[],
  now: number,
  fenceRev: string,
): Promise<CommitOutcome> {
  let rec = target.rec;
  const planned = items.map(({ w, ordinal }) => {
    const r = assign(rec, ordinal, w.handle, w.attrs, now);
    rec = r.block;
    const e: HandleIP = { block: rec.cidr, ordinal, seq: r.seq, ip: ipOf(rec, ordinal) };
    return { w, e, h: withIP(w.handleRec, w.handle, e) };
  });
  const txn = etcd.if(target.key, 'Mod', '==', target.rev);
  for (const p of planned) txn.and(keys.handle(p.w.handle), 'Mod', '==', p.w.handleRev);
  txn.and(keys.fence(), 'Mod', '==', fenceRev);
  const res = await txn
    .then(etcd.put(target.key).value(encodeBlock(rec)), ...planned.map((p) => etcd.put(keys.handle(p.w.handle)).value(encodeHandle(p.h))))
    .else(etcd.get(target.key), ...planned.map((p) => etcd.get(keys.handle(p.w.handle))), etcd.get(keys.fence()))
    .commit();
  if (res.succeeded) {
    const rev = String(res.header.revision);
    target.rec = rec;
    target.rev = rev;
    for (const p of planned) {
      p.w.handleRec = p.h;
      p.w.handleRev = rev;
      settle(p.w, { ip: toAllocated(p.e, p.w.family), fresh: true });
    }
    return { ok: true };
  }
  const bkv = rangeKV(res.responses[0]);
  planned.forEach((p, i) => {
    const hkv = rangeKV(res.responses[i + 1]);
    p.w.handleRev = hkv?.mod ?? '0';
    p.w.handleRec = hkv ? decodeHandle(hkv.key, hkv.text) : undefined;
  });
  const fkv = rangeKV(res.responses[planned.length + 1]);
  const fence: WatchedFence = { value: fkv ? { text: fkv.text, modRevision: fkv.mod } : undefined, revision: String(res.header.revision) };
  if (!bkv) return { ok: false, blockGone: true, fence };
  const fresh = decodeBlock(bkv.key, bkv.text);
  const gone = target.affine && fresh.affinity !== target.rec.affinity;
  target.rec = fresh;
  target.rev = bkv.mod;
  return { ok: false, blockGone: gone, fence };
}
