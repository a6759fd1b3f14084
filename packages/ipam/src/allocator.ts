/**
 * The allocator: hands out addresses by handle, from the node's affine
 * blocks first, then a newly claimed block, then (unless strictAffinity) a
 * block borrowed from another node. Requests for the same node, family and
 * pools queue together and are served by one transaction per block (group
 * commit). Every write is a compare-and-swap: see docs/ipam.md.
 */
import {
  type IPFamily,
  TerraceError,
  cidrContainsIP,
  isTerraceError,
  formatCidr,
  formatIP,
  ordinalOf,
  parseIP,
  resourceRef,
  subnetContaining,
} from '@terrace/api';
import { type Keys, getOp, readAll } from '@terrace/datastore';
import type { Etcd3 } from 'etcd3';
import { Affinity, type BlockTarget, type FenceMoved } from './affinity.js';
import { type AllocationAttrs, allocationAt, decodeBlock, findFree, hostAffinity, roomIn } from './block.js';
import { ClusterView, type PoolView, type WatchedResources, eligiblePools, poolOfBlock } from './cluster.js';
import { type Waiter, commitAssign, settle, toAllocated } from './commit.js';
import { type FenceView, fenceCovering, fenceHolding, fencedMessage, fencedOrdinals, fencesIn, heldMessage, isCleared } from './fence.js';
import { decodeHandle, ipsOfFamily, validateHandle } from './handle.js';
import { readKey, readPrefix } from './kv.js';
import { Mutex, sleep } from './mutex.js';
import { blockHolding, overlappingBlock, storedBlocks } from './overlap.js';
import type { PodRef } from './pod.js';
import { releaseByHandle, releaseByIP, releasePod } from './release.js';
import { type CheckReport, check } from './check.js';
import { type NodeReleaseResult, releaseEmptyBlocks, releaseNode } from './lifecycle.js';
import { type RepairAction, repair } from './repair.js';
import type { AllocateRequest, AllocateResult, AllocatedIP, BlockInfo, IPInfo, ReleaseRequest, ReleasedIP } from './types.js';
import { type PoolUsage, lookupIP, poolUsage, readBlocks } from './usage.js';

/** How often, and how long apart, an allocation that found no room waits for other nodes' claims in flight. */
const CLAIM_SETTLE_TRIES = 10;
const CLAIM_SETTLE_MS = 100;

export interface AllocatorOptions {
  etcd: Etcd3;
  keys: Keys;
  /** How long pool, IPAMConfig and node-label reads are reused, in ms; default 1000. */
  cacheTtlMs?: number;
  /**
   * Pools, nodes and the multi-cluster fence from the caller's etcd watch
   * (the agent's cluster state): then an ADD into an affine block with room is one etcd request,
   * its transaction, however long since the last. Default: none; pools and
   * node labels are read, and the reads reused for cacheTtlMs.
   */
  watched?: WatchedResources;
  /** Most requests served by one transaction; default 64 (etcd allows 128 operations per txn). */
  maxBatch?: number;
  /** Conflicting attempts before a request fails with Conflict; default 50. */
  maxRetries?: number;
}

interface Queue {
  node: string;
  family: IPFamily;
  pools: string[] | undefined;
  waiting: Waiter[];
  running: boolean;
}

interface NodeState {
  /** Affine blocks by CIDR, as last read or written; undefined until loaded. */
  blocks: Map<string, BlockTarget> | undefined;
  /** Serialises loading and claiming for the node within this instance. */
  lock: Mutex;
}

function familyName(f: IPFamily): string {
  return f === 4 ? 'IPv4' : 'IPv6';
}

export class Allocator {
  readonly etcd: Etcd3;
  readonly keys: Keys;
  readonly view: ClusterView;
  private readonly affinity: Affinity;
  private readonly maxBatch: number;
  private readonly maxRetries: number;
  private readonly queues = new Map<string, Queue>();
  private readonly nodes = new Map<string, NodeState>();

  constructor(opts: AllocatorOptions) {
    this.etcd = opts.etcd;
    this.keys = opts.keys;
    this.view = new ClusterView(opts.etcd, opts.keys, opts.cacheTtlMs ?? 1000, opts.watched);
    this.affinity = new Affinity(opts.etcd, opts.keys);
    this.maxBatch = Math.max(1, Math.min(opts.maxBatch ?? 64, 120));
    this.maxRetries = opts.maxRetries ?? 50;
  }

  /**
   * Allocates addresses for a handle; the same handle gets the same
   * addresses back. Fails with Exhausted (naming the pools tried),
   * Conflict (a requested address is taken), NotFound (a named pool).
   */
  async allocate(req: AllocateRequest): Promise<AllocateResult> {
    const handle = validateHandle(req.handle);
    if (!req.node) throw new TerraceError('Invalid', `allocate ${handle}: node is required`, { field: 'node' });
    const attrs: AllocationAttrs = { node: req.node, ...req.attrs };
    const specific = req.ip === undefined ? [] : Array.isArray(req.ip) ? req.ip : [req.ip];
    const out: { ip: AllocatedIP; fresh: boolean }[] = [];
    try {
      if (specific.length > 0) {
        for (const ip of specific) out.push(await this.allocateSpecific(handle, attrs, ip, req.pools));
      } else {
        const fam = req.family ?? 4;
        for (const f of fam === 'dual' ? ([4, 6] as const) : [fam]) out.push(await this.enqueue(handle, attrs, f, req.pools));
      }
    } catch (e) {
      // All or nothing: give back what this call newly took.
      for (const r of out) if (r.fresh) await this.release({ handle, seq: r.ip.seq }).catch(() => undefined);
      throw e;
    }
    return { handle, ips: out.map((r) => r.ip) };
  }

  /** Releases by handle (every address it holds, or the one with `seq`) or by address. Idempotent. */
  async release(req: ReleaseRequest): Promise<ReleasedIP[]> {
    const released =
      'ip' in req
        ? await releaseByIP(this.etcd, this.keys, this.view, req.ip, req.seq, req.handle)
        : await releaseByHandle(this.etcd, this.keys, validateHandle(req.handle), req.seq);
    for (const r of released) this.forgetBlockRecord(r.block);
    return released;
  }

  /**
   * Releases a pod interface's addresses (CNI DEL, GC), including those an
   * older agent stored under the old handle form, but of those only the
   * allocations whose containerID and iface are this interface's (see
   * releasePod in release.ts). Idempotent.
   */
  async releasePod(pod: PodRef): Promise<ReleasedIP[]> {
    const released = await releasePod(this.etcd, this.keys, pod);
    for (const r of released) this.forgetBlockRecord(r.block);
    return released;
  }

  /** The blocks affine to `node`, freshly read (and tidied: see Affinity.loadAffine). */
  async affineBlocks(node: string): Promise<BlockTarget[]> {
    const st = this.nodeState(node);
    return st.lock.run(() => this.reload(node));
  }

  /** Drops cached state about `node` (after lifecycle operations changed its blocks). */
  forgetNode(node: string): void {
    this.nodes.delete(node);
  }

  /** Deletes `node`'s empty blocks and their affinities; returns their CIDRs. */
  async releaseEmptyBlocks(node: string): Promise<string[]> {
    const st = this.nodeState(node);
    return st.lock.run(async () => {
      try {
        return await releaseEmptyBlocks(this.etcd, this.keys, node);
      } finally {
        st.blocks = undefined;
      }
    });
  }

  /** Releases everything of a node that is gone: its addresses everywhere, then its blocks. */
  async releaseNode(node: string, progress?: (done: number, total: number) => void): Promise<NodeReleaseResult> {
    try {
      return await releaseNode(this.etcd, this.keys, node, progress);
    } finally {
      this.forgetNode(node);
    }
  }

  /** A report of leaks and leftovers, read at one revision. */
  check(progress?: (done: number, total: number) => void): Promise<CheckReport> {
    return check(this.etcd, this.keys, progress);
  }

  /** Fixes what a report lists and is still in the reported state. */
  async repair(report: Pick<CheckReport, 'issues'>, opts: { dryRun?: boolean; progress?: (done: number, total: number) => void } = {}): Promise<RepairAction[]> {
    const r = await repair(this.etcd, this.keys, report, opts);
    if (!opts.dryRun) this.nodes.clear();
    return r;
  }

  poolUsage(): Promise<PoolUsage[]> {
    return poolUsage(this.etcd, this.keys, this.view);
  }

  blocks(): Promise<BlockInfo[]> {
    return readBlocks(this.etcd, this.keys, this.view);
  }

  /** Who holds an address, or undefined when it is free. */
  lookup(ip: string): Promise<IPInfo | undefined> {
    return lookupIP(this.etcd, this.keys, this.view, ip);
  }

  // ---- group commit -------------------------------------------------------

  private enqueue(handle: string, attrs: AllocationAttrs, family: IPFamily, pools: string[] | undefined): Promise<{ ip: AllocatedIP; fresh: boolean }> {
    const qkey = `${attrs.node}|${family}|${pools?.join(',') ?? ''}`;
    let q = this.queues.get(qkey);
    if (!q) {
      q = { node: attrs.node, family, pools, waiting: [], running: false };
      this.queues.set(qkey, q);
    }
    const queue = q;
    return new Promise((resolve, reject) => {
      queue.waiting.push({ handle, attrs, family, handleRev: '0', handleRec: undefined, settled: false, resolve, reject });
      if (!queue.running) {
        queue.running = true;
        void this.drain(queue);
      }
    });
  }

  private async drain(q: Queue): Promise<void> {
    try {
      while (q.waiting.length > 0) {
        // One batch holds each handle once; a repeat waits for the next
        // batch, where it finds the address its twin was given.
        const batch: Waiter[] = [];
        const rest: Waiter[] = [];
        const seen = new Set<string>();
        for (const w of q.waiting) {
          if (batch.length < this.maxBatch && !seen.has(w.handle)) {
            batch.push(w);
            seen.add(w.handle);
          } else rest.push(w);
        }
        q.waiting = rest;
        try {
          await this.serve(q, batch);
        } catch (e) {
          for (const w of batch) settle(w, { error: e });
        }
      }
    } finally {
      q.running = false;
    }
  }

  private async serve(q: Queue, batch: Waiter[]): Promise<void> {
    let pending = batch;
    for (let attempt = 0; ; attempt++) {
      pending = pending.filter((w) => !this.settleExisting(w));
      if (pending.length === 0) return;
      if (attempt >= this.maxRetries) {
        throw new TerraceError('Conflict', `node ${q.node}: gave up allocating ${familyName(q.family)} after ${attempt} conflicting attempts`);
      }
      // The whole decision (pools, block, ordinals) is made on one fence, and its revision is compared.
      const fence = await this.view.fence();
      const picked = await this.pickBlock(q.node, q.family, q.pools, fence, attempt > 0).catch((e: unknown) => this.exhausted(pending, e));
      if ('fenceMoved' in picked) {
        // A block claim found a newer fence: decide again on it.
        this.view.noteFence(picked.fenceMoved);
        continue;
      }
      const target = picked;
      const ordinals = findFree(target.rec, pending.length, fencedOrdinals(fence, target.cidr));
      const take = pending.slice(0, ordinals.length);
      if (take.length === 0) {
        // Cannot happen while pickBlock and findFree see one fence; never commit an empty batch (it would look like progress).
        this.nodeState(q.node).blocks = undefined;
        continue;
      }
      const res = await commitAssign(
        this.etcd,
        this.keys,
        target,
        take.map((w, i) => ({ w, ordinal: ordinals[i] as number })),
        Date.now(),
        fence.modRevision,
      );
      if (res.ok) {
        pending = pending.slice(take.length);
        attempt = -1; // progress resets the conflict budget
        continue;
      }
      this.view.noteFence(res.fence);
      if (res.blockGone) this.dropAffine(q.node, target);
      // Full-jitter exponential backoff: several allocator processes serving
      // the same node contend for the same block; a linear few milliseconds
      // let them collide in lockstep until the budget ran out (seen with 4
      // instances per node on a loaded 2-core machine).
      await sleep(Math.random() * Math.min(400, 4 * 2 ** Math.min(attempt, 7)));
    }
  }

  /**
   * Nothing left to hand out: before failing, settle the waiters whose
   * handle already holds an address (a retried ADD of a running pod, while
   * a pool is full, held or fenced). The handle is otherwise never read up
   * front (its transaction's else branch returns it), so read them here.
   */
  private async exhausted(pending: Waiter[], e: unknown): Promise<never> {
    if (isTerraceError(e, 'Exhausted')) {
      const { results } = await readAll(this.etcd, pending.map((w) => getOp(this.keys.handle(w.handle))));
      pending.forEach((w, i) => {
        const kv = results[i]?.[0];
        if (kv) w.handleRec = decodeHandle(kv.key.toString(), kv.value.toString());
        this.settleExisting(w);
      });
    }
    throw e;
  }

  /** Settles a waiter whose handle already holds an address of its family (an idempotent retry). */
  private settleExisting(w: Waiter): boolean {
    const have = ipsOfFamily(w.handleRec, w.family)[0];
    if (!have) return false;
    settle(w, { ip: toAllocated(have, w.family), fresh: false });
    return true;
  }

  // ---- where to allocate from --------------------------------------------

  private nodeState(node: string): NodeState {
    let st = this.nodes.get(node);
    if (!st) {
      st = { blocks: undefined, lock: new Mutex() };
      this.nodes.set(node, st);
    }
    return st;
  }

  private async reload(node: string): Promise<BlockTarget[]> {
    const list = await this.affinity.loadAffine(node);
    this.nodeState(node).blocks = new Map(list.map((t) => [t.rec.cidr, t]));
    return list;
  }

  private dropAffine(node: string, t: BlockTarget): void {
    this.nodes.get(node)?.blocks?.delete(t.rec.cidr);
  }

  /** Cached copies of a block are stale after a write elsewhere in this instance. */
  private forgetBlockRecord(cidr: string): void {
    for (const st of this.nodes.values()) {
      const t = st.blocks?.get(cidr);
      if (t) t.rev = '-1'; // forces a re-read through the next transaction's else branch
    }
  }

  /**
   * An affine block with room: the first one (packing addresses keeps the
   * other blocks empty, so they can be released), or with `spread` a random
   * one, so that writers contending for one block (several allocator
   * processes for one node) stop colliding on every retry.
   */
  private firstWithRoom(node: string, family: IPFamily, eligible: PoolView[], fence: FenceView, spread = false): BlockTarget | undefined {
    const blocks = this.nodes.get(node)?.blocks;
    if (!blocks) return undefined;
    const room: BlockTarget[] = [];
    for (const t of blocks.values()) {
      if (t.cidr.family === family && poolOfBlock(eligible, t.cidr) && roomIn(t.rec, fencedOrdinals(fence, t.cidr)) > 0) {
        if (!spread) return t;
        room.push(t);
      }
    }
    return room[Math.floor(Math.random() * room.length)];
  }

  private async eligible(node: string, family: IPFamily, pools: string[] | undefined, fence: FenceView, fresh = false): Promise<PoolView[]> {
    const [all, labels] = await Promise.all([this.view.pools({ fresh, ...(pools ? { named: pools } : {}) }), this.view.nodeLabels(node)]);
    const usable = eligiblePools(all, family, labels ?? {}, pools);
    // Pools the multi-cluster fence has not cleared (yet) are left out; if nothing else is left, say why.
    const list = fence.doc ? usable.filter((p) => isCleared(fence, p)) : usable;
    if (list.length === 0 && usable.length > 0) {
      throw new TerraceError('Exhausted', usable.map((p) => heldMessage(fence, p.name)).join('; '));
    }
    if (list.length === 0) {
      const tried = pools?.length ? pools : all.filter((p) => p.cidr.family === family && !p.manual).map((p) => p.name);
      throw new TerraceError(
        'Exhausted',
        `no ${familyName(family)} pool is usable by node ${node} (pools ${tried.length ? tried.join(', ') : 'none'}: disabled, Manual or nodeSelector does not match)`,
      );
    }
    return list;
  }

  private async pickBlock(node: string, family: IPFamily, pools: string[] | undefined, fence: FenceView, spread = false): Promise<BlockTarget | FenceMoved> {
    const st = this.nodeState(node);
    let eligible = await this.eligible(node, family, pools, fence);
    if (st.blocks) {
      const t = this.firstWithRoom(node, family, eligible, fence, spread);
      if (t) return t;
    }
    return st.lock.run(async () => {
      // Another instance (or an earlier crash) may have changed the node's blocks.
      const blocks = await this.reload(node);
      const t = this.firstWithRoom(node, family, eligible, fence);
      if (t) return t;
      // Claims are rare: re-read pools so the claim compares their current revision.
      this.view.invalidate();
      eligible = await this.eligible(node, family, pools, fence, true);
      const config = await this.view.config();
      const held = blocks.filter((b) => b.cidr.family === family).length;
      const atLimit = config.maxBlocksPerHost > 0 && held >= config.maxBlocksPerHost;
      for (let wait = 0; ; wait++) {
        if (config.autoAllocateBlocks && !atLimit) {
          const c = await this.affinity.claim(node, eligible, fence);
          if (c && 'fenceMoved' in c) return c;
          if (c) {
            st.blocks?.set(c.rec.cidr, c);
            return c;
          }
        }
        let seen: { revision: string; blocks: Set<string> } | undefined;
        if (!config.strictAffinity) {
          const b = await this.borrowable(node, family, eligible, fence);
          if (b.target) return b.target;
          seen = b.seen;
        }
        // Another node's claim may hold the last blocks between its steps A
        // and B: taken, but not yet there to borrow from. Telling the pod
        // Exhausted now would be wrong a moment later; wait for the claim
        // (a crashed one costs CLAIM_SETTLE_TRIES × CLAIM_SETTLE_MS once).
        // In flight is judged at the revision the borrow read saw.
        if (wait >= CLAIM_SETTLE_TRIES || !(await this.affinity.claimsInFlight(eligible, seen))) break;
        await sleep(CLAIM_SETTLE_MS);
      }
      const why = [
        atLimit ? `node holds maxBlocksPerHost=${config.maxBlocksPerHost} ${familyName(family)} blocks` : '',
        config.autoAllocateBlocks ? '' : 'autoAllocateBlocks is false',
        config.strictAffinity ? 'strictAffinity forbids borrowing' : '',
        ...eligible.flatMap((p) => fencesIn(fence, p.cidr).map(fencedMessage)),
      ].filter(Boolean);
      throw new TerraceError(
        'Exhausted',
        `no free ${familyName(family)} address for node ${node} in pools ${eligible.map((p) => p.name).join(', ')}${why.length ? ` (${why.join('; ')})` : ''}`,
      );
    });
  }

  /** A block of another node (or an unaffine one) in an eligible pool with a free address. */
  private async borrowable(
    node: string,
    family: IPFamily,
    eligible: PoolView[],
    fence: FenceView,
  ): Promise<{ target: BlockTarget | undefined; seen: { revision: string; blocks: Set<string> } }> {
    const { kvs, revision } = await readPrefix(this.etcd, this.keys.blockPrefix());
    const mine = hostAffinity(node);
    const candidates: BlockTarget[] = [];
    const blocks = new Set<string>();
    for (const kv of kvs) {
      const cidr = this.keys.parseBlock(kv.key);
      if (cidr) blocks.add(formatCidr(cidr));
      if (!cidr || cidr.family !== family || !poolOfBlock(eligible, cidr) || fenceCovering(fence, cidr)) continue;
      const rec = decodeBlock(kv.key, kv.text);
      if (rec.affinity === mine || roomIn(rec, fencedOrdinals(fence, cidr)) === 0) continue;
      candidates.push({ key: kv.key, cidr, rec, rev: kv.mod, affine: false });
    }
    return { target: candidates[Math.floor(Math.random() * candidates.length)], seen: { revision, blocks } };
  }

  // ---- specific addresses -------------------------------------------------

  private async allocateSpecific(handle: string, attrs: AllocationAttrs, ipText: string, poolNames: string[] | undefined): Promise<{ ip: AllocatedIP; fresh: boolean }> {
    const ip = parseIP(ipText);
    for (let attempt = 0; attempt < this.maxRetries; attempt++) {
      const pools = await this.view.pools(poolNames ? { named: poolNames } : {});
      const inScope = poolNames?.length ? pools.filter((p) => poolNames.includes(p.name)) : pools;
      const pool = inScope.find((p) => cidrContainsIP(p.cidr, ip));
      if (!pool) throw new TerraceError('NotFound', `no IP pool${poolNames?.length ? ` among ${poolNames.join(', ')}` : ''} contains ${ipText}`);
      if (pool.disabled) throw new TerraceError('Invalid', `${resourceRef('IPPool', pool.name)} is disabled: cannot allocate ${ipText}`, { resource: resourceRef('IPPool', pool.name) });
      let cidr = subnetContaining(pool.cidr, pool.blockSize, ip);
      const hkv = await readKey(this.etcd, this.keys.handle(handle));
      const hrec = hkv ? decodeHandle(hkv.key, hkv.text) : undefined;
      const already = hrec?.ips.find((e) => e.ip === formatIP(ip));
      if (already) return { ip: toAllocated(already, ip.family), fresh: false };
      // A new address: the multi-cluster fence decides (an address the handle already holds is kept, above).
      const fence = await this.view.fence();
      if (!isCleared(fence, pool)) throw new TerraceError('Exhausted', `cannot allocate ${ipText}: ${heldMessage(fence, pool.name)}`, { resource: resourceRef('IPPool', pool.name) });
      const fenced = fenceHolding(fence, ip);
      if (fenced) throw new TerraceError('Conflict', `cannot allocate ${ipText}: ${fencedMessage(fenced)}`, { resource: resourceRef('IPPool', pool.name) });

      let bkey = this.keys.block(cidr);
      let bkv = await readKey(this.etcd, bkey);
      if (!bkv) {
        // A block of another size (from an earlier pool over this range) may hold the address.
        const stored = await storedBlocks(this.etcd, this.keys);
        const holding = blockHolding(ip, stored);
        const clash = holding ?? overlappingBlock(cidr, stored);
        if (holding) {
          cidr = holding;
          bkey = this.keys.block(cidr);
          bkv = await readKey(this.etcd, bkey);
          if (!bkv) continue;
        } else if (clash) {
          throw new TerraceError('Conflict', `${ipText}: its block ${formatCidr(cidr)} would overlap existing block ${formatCidr(clash)} (left by a pool with another blockSize)`);
        }
      }
      let target: BlockTarget;
      if (!bkv) {
        // The block does not exist yet: claim it for this node.
        this.view.invalidate();
        const fresh = (await this.view.pools({ fresh: true })).find((p) => p.name === pool.name) ?? pool;
        const claimed = await this.nodeState(attrs.node).lock.run(() => this.affinity.claimOne(attrs.node, fresh, cidr, fence.modRevision));
        if (!claimed) continue;
        if ('fenceMoved' in claimed) {
          this.view.noteFence(claimed.fenceMoved);
          continue;
        }
        this.nodes.get(attrs.node)?.blocks?.set(claimed.rec.cidr, claimed);
        target = claimed;
      } else {
        const rec = decodeBlock(bkey, bkv.text);
        target = { key: bkey, cidr, rec, rev: bkv.mod, affine: false };
      }
      const ordinal = ordinalOf(cidr, ip);
      const holder = allocationAt(target.rec, ordinal);
      if (holder) {
        throw new TerraceError('Conflict', `${ipText} (block ${formatCidr(cidr)}) is already allocated to handle ${holder.handle}`);
      }
      let result: { ip: AllocatedIP; fresh: boolean } | undefined;
      const w: Waiter = {
        handle,
        attrs,
        family: ip.family,
        handleRev: hkv?.mod ?? '0',
        handleRec: hrec,
        settled: false,
        resolve: (r) => (result = r),
        reject: () => undefined,
      };
      const res = await commitAssign(this.etcd, this.keys, target, [{ w, ordinal }], Date.now(), fence.modRevision);
      if (res.ok && result) return result;
      if (!res.ok) this.view.noteFence(res.fence);
    }
    throw new TerraceError('Conflict', `allocate ${ipText} for ${handle}: gave up after ${this.maxRetries} conflicting attempts`);
  }
}
