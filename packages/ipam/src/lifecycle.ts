/**
 * Block lifecycle for the controller: give back a node's empty blocks, and
 * everything of a node that is gone. Small transactions, each comparing the
 * revisions it read; a conflict re-reads and tries again.
 */
import { TerraceError, formatCidr } from '@terrace/api';
import type { Keys } from '@terrace/datastore';
import type { Etcd3 } from 'etcd3';
import { type BlockRecord, allocationsOf, decodeBlock, hostAffinity, isEmpty, unassign } from './block.js';
import { decodeHandle, withoutIP } from './handle.js';
import { type KV, readKey, readPrefix } from './kv.js';
import { blockWriteOp, handleWriteOp } from './release.js';

const MAX_ATTEMPTS = 20;
/** Allocations released per transaction (each also writes its handle; etcd allows 128 ops). */
const CHUNK = 50;

/**
 * Raised inside a node release when the node's liveness key exists: every
 * transaction of a release asserts the key absent at its own revision, so a
 * node that returns after the caller's last look loses nothing more.
 */
class NodeAlive extends Error {}

/** Compare for "the node's liveness key does not exist". */
function nodeGone(keys: Keys, node: string): [string, 'Create', '==', number] {
  return [keys.alive(node), 'Create', '==', 0];
}

async function throwIfAlive(etcd: Etcd3, keys: Keys, node: string): Promise<void> {
  if (await readKey(etcd, keys.alive(node))) throw new NodeAlive(node);
}

export interface NodeReleaseResult {
  releasedIPs: number;
  deletedBlocks: string[];
  /** Blocks that others still borrow from: now unaffine, deleted by the release that empties them. */
  unaffinedBlocks: string[];
  /**
   * The node's liveness key appeared while the release ran: it stopped at
   * that point and what is left stays with the node.
   */
  aliveAgain: boolean;
}

/** Deletes `node`'s empty blocks with their affinities. Returns their CIDRs. */
export async function releaseEmptyBlocks(etcd: Etcd3, keys: Keys, node: string): Promise<string[]> {
  const out: string[] = [];
  const { kvs } = await readPrefix(etcd, keys.affinityPrefix(node));
  for (const a of kvs) {
    const r = await releaseAffineBlock(etcd, keys, node, a, false);
    if (r === 'deleted') {
      const p = keys.parseAffinity(a.key);
      if (p) out.push(formatCidr(p.cidr));
    }
  }
  return out;
}

/**
 * Releases one affinity of `node`: an empty block is deleted with it; a
 * non-empty one is kept, made unaffine, when `evenIfUsed`. An affinity
 * with no block of ours is dropped.
 */
async function releaseAffineBlock(etcd: Etcd3, keys: Keys, node: string, aff: KV, evenIfUsed: boolean): Promise<'deleted' | 'unaffined' | 'kept' | 'dropped'> {
  const parsed = keys.parseAffinity(aff.key);
  if (!parsed) return 'kept';
  const bkey = keys.block(parsed.cidr);
  let a: KV | undefined = aff;
  for (let attempt = 0; attempt < MAX_ATTEMPTS && a; attempt++) {
    const b = await readKey(etcd, bkey);
    const rec = b ? decodeBlock(bkey, b.text) : undefined;
    const txn = etcd.if(a.key, 'Mod', '==', a.mod).and(bkey, 'Mod', '==', b?.mod ?? 0);
    // Releasing a gone node: only while it is still gone.
    if (evenIfUsed) txn.and(...nodeGone(keys, node));
    let outcome: 'deleted' | 'unaffined' | 'dropped';
    if (!rec || rec.affinity !== hostAffinity(node)) {
      txn.then(etcd.delete().key(a.key));
      outcome = 'dropped';
    } else if (isEmpty(rec)) {
      txn.then(etcd.delete().key(a.key), etcd.delete().key(bkey));
      outcome = 'deleted';
    } else if (evenIfUsed) {
      const next: BlockRecord = { ...rec, affinity: null };
      txn.then(etcd.delete().key(a.key), blockWriteOp(etcd, bkey, next));
      outcome = 'unaffined';
    } else {
      return 'kept';
    }
    if ((await txn.commit()).succeeded) return outcome;
    if (evenIfUsed) await throwIfAlive(etcd, keys, node);
    a = await readKey(etcd, a.key);
  }
  if (!a) return 'dropped';
  throw new TerraceError('Conflict', `release block ${formatCidr(parsed.cidr)} of node ${node}: gave up after ${MAX_ATTEMPTS} conflicting attempts`);
}

/** Keys of the blocks that hold an allocation of `node` (reads every block). */
async function blocksHolding(etcd: Etcd3, keys: Keys, node: string): Promise<string[]> {
  const { kvs } = await readPrefix(etcd, keys.blockPrefix());
  return kvs.filter((kv) => Object.values(decodeBlock(kv.key, kv.text).allocations).some((a) => a.node === node)).map((kv) => kv.key);
}

/** Releases every allocation of `node` in one block, in chunks, telling `freed` each chunk's size. */
async function releaseNodeInBlock(etcd: Etcd3, keys: Keys, node: string, bkey: string, freed: (n: number) => void): Promise<void> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; ) {
    const b = await readKey(etcd, bkey);
    if (!b) return;
    const rec = decodeBlock(bkey, b.text);
    const mine = allocationsOf(rec)
      .filter((x) => x.alloc.node === node)
      .slice(0, CHUNK);
    if (mine.length === 0) return;
    const handles = new Map<string, KV | undefined>();
    await Promise.all(
      [...new Set(mine.map((x) => x.alloc.handle))].map(async (h) => handles.set(h, await readKey(etcd, keys.handle(h)))),
    );
    let next = rec;
    const hrecs = new Map([...handles].map(([h, kv]) => [h, kv ? decodeHandle(kv.key, kv.text) : null]));
    for (const { ordinal, alloc } of mine) {
      next = unassign(next, ordinal, alloc.seq, alloc.handle) ?? next;
      const hr = hrecs.get(alloc.handle);
      if (hr) hrecs.set(alloc.handle, withoutIP(hr, rec.cidr, ordinal, alloc.seq));
    }
    const txn = etcd.if(bkey, 'Mod', '==', b.mod).and(...nodeGone(keys, node));
    for (const [h, kv] of handles) txn.and(keys.handle(h), 'Mod', '==', kv?.mod ?? 0);
    const ops = [blockWriteOp(etcd, bkey, next)];
    for (const [h, kv] of handles) if (kv) ops.push(handleWriteOp(etcd, keys.handle(h), hrecs.get(h) ?? null));
    if ((await txn.then(...ops).commit()).succeeded) {
      freed(mine.length);
    } else {
      await throwIfAlive(etcd, keys, node);
      attempt++;
    }
  }
  throw new TerraceError('Conflict', `release node ${node} in ${bkey}: gave up after ${MAX_ATTEMPTS} conflicting attempts`);
}

/**
 * Releases everything of a node that is gone: its allocations in every
 * block, then its blocks (deleted when empty, unaffine when others still
 * borrow from them). Safe to repeat. Every transaction also asserts that
 * the node's liveness key is absent, so a node that comes back mid-way
 * keeps the rest (`aliveAgain`), however late the caller would notice.
 *
 * `within`: the CIDRs of the blocks that hold the node's allocations, when
 * the caller has just read them (the controller's snapshot). Only those are
 * read, instead of every block of the cluster for every dead node; a block
 * missed that way is found by the caller's next read, as the node still
 * holds something then.
 */
export async function releaseNode(
  etcd: Etcd3,
  keys: Keys,
  node: string,
  progress?: (done: number, total: number) => void | Promise<void>,
  within?: readonly string[],
): Promise<NodeReleaseResult> {
  const result: NodeReleaseResult = { releasedIPs: 0, deletedBlocks: [], unaffinedBlocks: [], aliveAgain: false };
  try {
    const blockKeys = within ? [...new Set(within)].map((cidr) => keys.block(cidr)) : await blocksHolding(etcd, keys, node);
    let done = 0;
    for (const bkey of blockKeys) {
      await releaseNodeInBlock(etcd, keys, node, bkey, (n) => (result.releasedIPs += n));
      await progress?.(++done, blockKeys.length);
    }
    const affs = await readPrefix(etcd, keys.affinityPrefix(node));
    for (const a of affs.kvs) {
      const r = await releaseAffineBlock(etcd, keys, node, a, true);
      const p = keys.parseAffinity(a.key);
      const cidr = p ? formatCidr(p.cidr) : a.key;
      if (r === 'deleted') result.deletedBlocks.push(cidr);
      if (r === 'unaffined') result.unaffinedBlocks.push(cidr);
    }
  } catch (e) {
    if (!(e instanceof NodeAlive)) throw e;
    result.aliveAgain = true;
  }
  return result;
}
