/**
 * The applier: carries out what the planner decided, through @terrace/ipam's
 * lifecycle helpers (small transactions, each comparing what it read), and
 * logs every address and block it frees.
 *
 * Two guards stand between a plan and a release, because the plan was made
 * from a snapshot that may be a pass old:
 *   - right before a node is released its liveness key is read again (a
 *     linearizable read): a node that is back is left alone;
 *   - between blocks the release checks that this controller still leads
 *     and that the liveness watch has not seen the node come back, and
 *     stops if either changed.
 */
import { TerraceError } from '@terrace/api';
import type { Keys } from '@terrace/datastore';
import { releaseEmptyBlocks, releaseNode } from '@terrace/ipam';
import type { Etcd3 } from 'etcd3';
import type { Logger } from '@terrace/log';
import type { HeldAddress } from './world.js';

export interface ApplyContext {
  etcd: Etcd3;
  keys: Keys;
  log: Logger;
  /** False as soon as this controller may no longer act. */
  stillLeader: () => boolean;
  /** What the liveness watch currently says about a node. */
  aliveNow: (node: string) => boolean;
}

export type NodeReleaseOutcome =
  | { node: string; released: true; addresses: number; deletedBlocks: string[]; unaffinedBlocks: string[] }
  | { node: string; released: false; reason: string };

/** Thrown from the progress callback to stop a release half-way (what is done stays done). */
class Stop extends Error {}

function notLeader(what: string): TerraceError {
  return new TerraceError('Conflict', `${what}: stopped because this controller is no longer the leader`);
}

export async function releaseDeadNode(ctx: ApplyContext, node: string, held: readonly HeldAddress[]): Promise<NodeReleaseOutcome> {
  const { etcd, keys, log } = ctx;
  if (!ctx.stillLeader()) throw notLeader(`release node ${node}`);
  const aliveKey = await etcd.get(keys.alive(node)).exec();
  if (aliveKey.kvs.length > 0 || ctx.aliveNow(node)) {
    log.info('node is alive again; nothing released', { node });
    return { node, released: false, reason: 'alive again' };
  }
  log.info('releasing dead node', { node, addresses: held.length });
  let r;
  try {
    // Only the blocks the snapshot saw holding the node's addresses: reading
    // every block for every dead node made a release cost O(dead × blocks).
    const within = held.map((a) => a.block);
    r = await releaseNode(etcd, keys, node, () => {
      if (!ctx.stillLeader()) throw new Stop('this controller is no longer the leader');
      if (ctx.aliveNow(node)) throw new Stop('the node came back');
    }, within);
  } catch (e) {
    if (e instanceof Stop) {
      log.warn('release of dead node stopped', { node, reason: e.message });
      return { node, released: false, reason: e.message };
    }
    throw e;
  }
  if (r.aliveAgain) {
    // Every release transaction asserts the liveness key absent; it appeared.
    log.warn('release of dead node stopped: its liveness key is back', { node, addressesFreedBeforeReturn: r.releasedIPs });
    return { node, released: false, reason: 'alive again' };
  }
  // releaseNode frees every allocation whose node is this one; the snapshot
  // lists them. A dead node gets no new allocations, so they are the same set.
  for (const a of held) log.info('address freed', { node, ...a });
  if (r.releasedIPs !== held.length) {
    log.info('freed a different number of addresses than the snapshot listed (others released some meanwhile)', { node, listed: held.length, freed: r.releasedIPs });
  }
  for (const block of r.deletedBlocks) log.info('block released', { node, block });
  for (const block of r.unaffinedBlocks) log.info('block kept for its borrowers, no longer affine', { node, block });
  log.info('dead node released', { node, addresses: r.releasedIPs, blocks: r.deletedBlocks.length, unaffined: r.unaffinedBlocks.length });
  return { node, released: true, addresses: r.releasedIPs, deletedBlocks: r.deletedBlocks, unaffinedBlocks: r.unaffinedBlocks };
}

/**
 * Gives back a live node's empty blocks. `expected` are the blocks the
 * planner saw empty twice; the helper releases every block of the node that
 * is empty at that moment (the planner waits until those are the same).
 */
export async function releaseNodeEmptyBlocks(ctx: ApplyContext, node: string, expected: readonly string[]): Promise<string[]> {
  if (!ctx.stillLeader()) throw notLeader(`release empty blocks of node ${node}`);
  const freed = await releaseEmptyBlocks(ctx.etcd, ctx.keys, node);
  const want = new Set(expected);
  for (const block of freed) {
    if (want.has(block)) ctx.log.info('empty block released', { node, block, reason: 'empty on two consecutive passes' });
    else ctx.log.warn('empty block released before its second empty pass (it emptied after the snapshot)', { node, block });
  }
  return freed;
}
