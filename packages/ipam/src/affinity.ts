/**
 * Block affinity: how a node claims a block, and how it finds (and tidies)
 * the blocks it holds. The claim is three transactions, each guarded by the
 * revisions of what it read (see docs/ipam.md):
 *
 *   A  affinity absent, block absent, pool and fence unchanged → affinity "pending"
 *   B  affinity at A's revision, block absent, fence unchanged  → block created, affine to the node
 *   C  affinity at A's revision, block at B's revision → affinity "confirmed"
 *
 * A crash after A leaves a pending affinity with no block; after B, a block
 * with a pending affinity. loadAffine() repairs both for its node, and
 * check() reports them for every node.
 */
import { type Cidr, cidrContainsCidr, cidrLast, cidrsOverlap, familyBits, formatCidr, subnetAt, subnetCount } from '@terrace/api';
import type { Keys } from '@terrace/datastore';
import type { Etcd3, IResponseOp } from 'etcd3';
import { type BlockRecord, decodeBlock, encodeBlock, hostAffinity, newBlock } from './block.js';
import type { PoolView } from './cluster.js';
import { type FenceView, NO_FENCE, type WatchedFence, fenceCovering } from './fence.js';
import { type KV, rangeKV, readKey, readKeys, readPrefix } from './kv.js';
import { overlappingBlock, storedBlocks } from './overlap.js';

export const PENDING = 'pending';
export const CONFIRMED = 'confirmed';
/** How many of a pool's lowest free blocks a claim picks from at random. */
const CLAIM_WINDOW = 32;

/**
 * A claim that lost to a multi-cluster fence written after the caller read
 * it: the fence as the transaction read it back (for ClusterView.noteFence),
 * so the caller decides again on it. Without the compare, a block wholly
 * inside the new fenced range would be created, stay empty and affine to
 * the node, and count towards maxBlocksPerHost.
 */
export interface FenceMoved {
  fenceMoved: WatchedFence;
}

/** A block as last read, with the revisions a write must compare. */
export interface BlockTarget {
  key: string;
  cidr: Cidr;
  rec: BlockRecord;
  /** mod_revision of the block key when `rec` was read. */
  rev: string;
  /** false for a block borrowed from another node (or an unaffine one). */
  affine: boolean;
}

export class Affinity {
  constructor(
    private readonly etcd: Etcd3,
    private readonly keys: Keys,
  ) {}

  /**
   * The blocks affine to `node`, confirming pending affinities whose block
   * exists and releasing ones whose block does not (a claim that crashed,
   * or lost its block to another node).
   */
  async loadAffine(node: string): Promise<BlockTarget[]> {
    const affs = await this.etcd.getAll().prefix(this.keys.affinityPrefix(node)).exec();
    const out = await Promise.all(
      affs.kvs.map(async (a) => {
        const akey = a.key.toString();
        const parsed = this.keys.parseAffinity(akey);
        if (!parsed) return undefined;
        const arev = String(a.mod_revision);
        const bkey = this.keys.block(parsed.cidr);
        const b = await readKey(this.etcd, bkey);
        const rec = b ? decodeBlock(bkey, b.text) : undefined;
        if (!b || !rec || rec.affinity !== hostAffinity(node)) {
          // Affinity without a block of ours: release it, only if neither changed since we looked.
          await this.etcd
            .if(akey, 'Mod', '==', arev)
            .and(bkey, 'Mod', '==', b ? b.mod : 0)
            .then(this.etcd.delete().key(akey))
            .commit();
          return undefined;
        }
        if (a.value.toString() !== CONFIRMED) {
          await this.etcd
            .if(akey, 'Mod', '==', arev)
            .and(bkey, 'Create', '==', b.create)
            .then(this.etcd.put(akey).value(CONFIRMED))
            .commit();
        }
        const t: BlockTarget = { key: bkey, cidr: parsed.cidr, rec, rev: b.mod, affine: true };
        return t;
      }),
    );
    return out.filter((t): t is BlockTarget => t !== undefined);
  }

  /**
   * Claims a free block for `node` from the first of `pools` that has one
   * (never one wholly inside a range the fence holds). Returns undefined
   * when every pool is fully claimed, FenceMoved when the fence changed
   * since `fence` was read.
   */
  async claim(node: string, pools: PoolView[], fence: FenceView = NO_FENCE): Promise<BlockTarget | FenceMoved | undefined> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const { taken, blocks } = await this.takenBlocks();
      let candidate: { pool: PoolView; cidr: Cidr } | undefined;
      for (const pool of pools) {
        const free = freeBlocks(pool, taken, CLAIM_WINDOW, blocks, fence);
        if (free.length > 0) {
          // A random one of the first free blocks, so that nodes claiming at
          // the same moment rarely race for the same block.
          candidate = { pool, cidr: free[Math.floor(Math.random() * free.length)] as Cidr };
          break;
        }
      }
      if (!candidate) return undefined;
      const t = await this.claimOne(node, candidate.pool, candidate.cidr, fence.modRevision);
      if (t) return t;
    }
    return undefined;
  }

  /**
   * Whether a claim in one of `pools` is between its steps A and B: a
   * pending affinity whose block does not exist yet. Such a block is taken
   * (claim() skips it) but not yet borrowable; in a moment it exists with
   * every address free. A crashed claim looks the same until it is tidied.
   *
   * With `seen`, the question is asked of the revision at which a caller
   * read the blocks (`seen.blocks`): a claim that wrote its block after
   * that read is still in flight for that caller, who did not see the
   * block. Asking at the current revision would call it done, and the
   * caller would report Exhausted with the block's addresses free.
   */
  async claimsInFlight(pools: PoolView[], seen?: { revision: string; blocks: ReadonlySet<string> }): Promise<boolean> {
    let affs: KV[];
    try {
      affs = (await readPrefix(this.etcd, this.keys.affinityPrefix(), seen?.revision)).kvs;
    } catch (e) {
      // The revision was compacted in the meantime: cannot tell, so look again.
      if (seen && /compacted/.test((e as Error).message)) return true;
      throw e;
    }
    for (const a of affs) {
      if (a.text !== PENDING) continue;
      const parsed = this.keys.parseAffinity(a.key);
      if (!parsed || !pools.some((p) => cidrContainsCidr(p.cidr, parsed.cidr))) continue;
      const exists = seen ? seen.blocks.has(formatCidr(parsed.cidr)) : (await readKey(this.etcd, this.keys.block(parsed.cidr))) !== undefined;
      if (!exists) return true;
    }
    return false;
  }

  /** Every block CIDR that exists or has an affinity (possibly pending) on it, and the stored blocks. */
  private async takenBlocks(): Promise<{ taken: Set<string>; blocks: Cidr[] }> {
    const [blocks, affs] = await Promise.all([storedBlocks(this.etcd, this.keys), readKeys(this.etcd, this.keys.affinityPrefix())]);
    const taken = new Set<string>(blocks.map(formatCidr));
    for (const k of affs) {
      const a = this.keys.parseAffinity(k);
      if (a) taken.add(formatCidr(a.cidr));
    }
    return { taken, blocks };
  }

  /**
   * Runs the three-step claim for one block, chosen outside the fence whose
   * key was at `fenceRev` ("0": absent); undefined if another writer got
   * there first, FenceMoved if the fence changed.
   */
  async claimOne(node: string, pool: PoolView, cidr: Cidr, fenceRev: string): Promise<BlockTarget | FenceMoved | undefined> {
    const akey = this.keys.affinity(node, cidr);
    const bkey = this.keys.block(cidr);
    const fkey = this.keys.fence();
    const a = await this.etcd
      .if(akey, 'Create', '==', 0)
      .and(bkey, 'Create', '==', 0)
      .and(this.keys.resource('IPPool', pool.name), 'Mod', '==', pool.modRevision)
      .and(fkey, 'Mod', '==', fenceRev)
      .then(this.etcd.put(akey).value(PENDING))
      .else(this.etcd.get(fkey))
      .commit();
    if (!a.succeeded) return fenceMoved(a.responses[0], fenceRev, a.header.revision);
    const arev = String(a.header.revision);

    let rec = newBlock(cidr, node);
    // The fence again: one written between A and B must not see the block created.
    const b = await this.etcd
      .if(akey, 'Mod', '==', arev)
      .and(bkey, 'Create', '==', 0)
      .and(fkey, 'Mod', '==', fenceRev)
      .then(this.etcd.put(bkey).value(encodeBlock(rec)))
      .else(this.etcd.get(bkey), this.etcd.get(fkey))
      .commit();
    let brev = String(b.header.revision);
    let bmod = brev;
    if (!b.succeeded) {
      // The client retries a request that failed after etcd applied it: a
      // block affine to this node can only come from our own step B (no
      // other claim for this node and block can pass step A while our
      // pending affinity exists), so adopt it; C still checks the affinity.
      const cur = rangeKV(b.responses[0]);
      const mine = cur ? decodeBlock(bkey, cur.text) : undefined;
      if (!cur || !mine || mine.affinity !== hostAffinity(node)) {
        // Another node created the block between A and B, or the fence moved: drop our claim.
        await this.etcd.if(akey, 'Mod', '==', arev).then(this.etcd.delete().key(akey)).commit();
        return fenceMoved(b.responses[1], fenceRev, b.header.revision);
      }
      rec = mine;
      brev = cur.create;
      bmod = cur.mod;
    }

    const c = await this.etcd
      .if(akey, 'Mod', '==', arev)
      .and(bkey, 'Create', '==', brev)
      .then(this.etcd.put(akey).value(CONFIRMED))
      .commit();
    // If C lost, the block was released in the meantime (affinity changed):
    // the caller must not use it.
    if (!c.succeeded) return undefined;
    return { key: bkey, cidr, rec, rev: bmod, affine: true };
  }
}

/** FenceMoved when the fence key a failed transaction read back is not at `fenceRev`, else undefined. */
function fenceMoved(res: IResponseOp | undefined, fenceRev: string, revision: string | number): FenceMoved | undefined {
  const f = rangeKV(res);
  if ((f?.mod ?? '0') === fenceRev) return undefined;
  return { fenceMoved: { value: f ? { text: f.text, modRevision: f.mod } : undefined, revision: String(revision) } };
}

/**
 * Up to `limit` block CIDRs of `pool` that nobody holds, lowest first.
 * `stored` are the existing blocks: a candidate overlapping one of another
 * size (left by an earlier pool over the same range) is held too. A
 * candidate wholly inside a fenced range is skipped (the scan jumps past
 * the range, which may hold many blocks: an IPv6 /64 fenced in a /48 pool).
 */
export function freeBlocks(pool: PoolView, taken: Set<string>, limit: number, stored: Cidr[] = [], fence: FenceView = NO_FENCE): Cidr[] {
  const out: Cidr[] = [];
  const total = subnetCount(pool.cidr, pool.blockSize);
  const foreign = stored.filter((b) => b.prefix !== pool.blockSize && cidrsOverlap(b, pool.cidr));
  // Only `taken.size` blocks can be held, plus whatever larger foreign blocks cover,
  // so a free one turns up within that many steps.
  let bound = BigInt(taken.size + limit);
  for (const b of foreign) if (b.prefix < pool.blockSize) bound += 1n << BigInt(pool.blockSize - b.prefix);
  const shift = BigInt(familyBits(pool.cidr.family) - pool.blockSize);
  let looked = 0n;
  for (let i = 0n; i < total && looked < bound && out.length < limit; i++) {
    const c = subnetAt(pool.cidr, pool.blockSize, i);
    const fenced = fence.fenced.length > 0 ? fenceCovering(fence, c) : undefined;
    if (fenced) {
      // Continue after the fenced range's last block.
      i = (cidrLast(fenced.cidr) - pool.cidr.base) >> shift;
      continue;
    }
    looked++;
    if (!taken.has(formatCidr(c)) && !overlappingBlock(c, foreign)) out.push(c);
  }
  return out;
}
