/**
 * The multi-cluster fence as the allocator obeys it. The acting controller
 * writes one ClusterFence (keys.fence()) once a RemoteCluster exists; the
 * allocator only reads it. With a fence doc: a pool is usable only when
 * `cleared` lists it with its current uid, and no new address comes out of
 * a `fenced` range. Without one nothing is gated. Every transaction that
 * hands out an address compares the fence key's mod revision with the one
 * its decision was made on, so a fence written in between makes it retry.
 * Pure functions; see docs/ipam.md "The multi-cluster fence".
 */
import {
  type Cidr,
  type ClusterFence,
  type FencedRange,
  type IPAddr,
  TerraceError,
  cidrContainsCidr,
  cidrContainsIP,
  cidrLast,
  cidrsOverlap,
  decodeClusterFence,
  resourceRef,
  tryParseCidr,
} from '@terrace/api';
import type { PoolView } from './cluster.js';

/** The fence key as stored: its value and mod revision. */
export interface RawFence {
  text: string;
  modRevision: string;
}

/** What a watch of the fence key holds, and the etcd revision the watch reflects. */
export interface WatchedFence {
  value: RawFence | undefined;
  revision: string;
}

export interface FenceEntry {
  cidr: Cidr;
  range: FencedRange;
}

export interface FenceView {
  /** undefined: no fence doc exists, nothing is gated. */
  doc: ClusterFence | undefined;
  fenced: FenceEntry[];
  /** The fence key's mod revision ("0" when absent): what address-handing transactions compare. */
  modRevision: string;
  /** The etcd revision this view was read at (a newer read wins). */
  seenAt: string;
}

export const NO_FENCE: FenceView = { doc: undefined, fenced: [], modRevision: '0', seenAt: '0' };

/**
 * Parses the stored fence. A value that is not a fence fails every
 * allocation (Internal) rather than being ignored: ignoring it would hand
 * out exactly the addresses it exists to protect.
 */
export function parseFence(key: string, raw: RawFence | undefined, seenAt: string): FenceView {
  if (!raw) return { ...NO_FENCE, seenAt };
  const doc = decodeClusterFence(key, raw.text);
  const fenced = doc.fenced.map((range: FencedRange) => {
    const cidr = typeof range?.cidr === 'string' ? tryParseCidr(range.cidr, false) : undefined;
    if (!cidr) {
      throw new TerraceError('Internal', `${key}: the stored cluster fence is not readable (fenced range ${JSON.stringify(range?.cidr)} is not a CIDR); no address is handed out until the controller rewrites it`);
    }
    return { cidr, range };
  });
  return { doc, fenced, modRevision: raw.modRevision, seenAt };
}

/** True when the pool may be allocated from: no fence doc, or the doc clears this pool's uid. */
export function isCleared(f: FenceView, pool: Pick<PoolView, 'name' | 'uid'>): boolean {
  if (!f.doc) return true;
  const uid = f.doc.cleared[pool.name];
  return uid !== undefined && uid === pool.uid;
}

/** One line naming a pool that is not cleared and why: `ippool/b: held: <reason>`. */
export function heldMessage(f: FenceView, pool: string): string {
  const reason = f.doc?.held.find((h) => h.pool === pool)?.reason ?? 'not yet cleared by the multi-cluster overlap check';
  return `${resourceRef('IPPool', pool)}: held: ${reason}`;
}

/** One line naming a fenced range and the remote pool it overlaps. */
export function fencedMessage(e: FenceEntry): string {
  const r = e.range;
  return `${r.cidr} is fenced: it overlaps pool ${r.remotePool} (${r.remoteCidr}) of remote cluster ${r.remote}`;
}

/** The fenced range holding `ip`, if any. */
export function fenceHolding(f: FenceView, ip: IPAddr): FenceEntry | undefined {
  return f.fenced.find((e) => cidrContainsIP(e.cidr, ip));
}

/** The fenced range that covers all of `block`, if any: such a block is never picked or claimed. */
export function fenceCovering(f: FenceView, block: Cidr): FenceEntry | undefined {
  return f.fenced.find((e) => cidrContainsCidr(e.cidr, block));
}

/** The fenced ranges overlapping `c` (a pool or a block). */
export function fencesIn(f: FenceView, c: Cidr): FenceEntry[] {
  return f.fenced.filter((e) => cidrsOverlap(e.cidr, c));
}

/** Inclusive ordinal interval inside a block. */
export interface OrdinalRange {
  from: number;
  to: number;
}

/** The ordinals of `block` no new address may come from (fenced ranges are CIDRs: each one nests or is apart). */
export function fencedOrdinals(f: FenceView, block: Cidr): OrdinalRange[] {
  const out: OrdinalRange[] = [];
  for (const e of f.fenced) {
    if (!cidrsOverlap(e.cidr, block)) continue;
    const from = e.cidr.base > block.base ? e.cidr.base : block.base;
    const last = cidrLast(e.cidr) < cidrLast(block) ? cidrLast(e.cidr) : cidrLast(block);
    out.push({ from: Number(from - block.base), to: Number(last - block.base) });
  }
  return out;
}
