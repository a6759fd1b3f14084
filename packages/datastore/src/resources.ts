/**
 * The resource store on etcd. Every write, of one resource or of a batch,
 * goes through one path (writeBatch):
 *
 *   1. read, in one snapshot, every key the batch touches, plus (when an
 *      IPPool or a Node is involved) every stored pool, every stored node
 *      and the `ippools` guard key, and (when an IPPool is) every remote
 *      cluster's cached state;
 *   2. decide each resource's fate (created, configured, unchanged) and run
 *      the cross-resource rules (no reserved range in a pool, no overlapping
 *      pools, no new pool overlapping a remote cluster's pool, no node
 *      address inside a pool, immutable cidr and blockSize) against what
 *      was read;
 *   3. commit one transaction that compares every touched key's mod revision
 *      as read, and, when the pool set changes, the guard key's revision and
 *      that no node changed since the read, and puts the guard key too; when
 *      a node's addresses change, the guard key's revision (without moving it).
 *
 * Any write to a pool moves the guard key, so two writers that each checked
 * for overlaps against a pool set the other is about to change cannot both
 * commit: the second fails its compare, re-reads, and now sees the first's
 * pool. A node write that checked its addresses against the pools read fails
 * the same way when a pool changed meanwhile; a pool write fails when any
 * node changed meanwhile. Node writes do not move the guard, so nodes
 * registering together never collide with each other. A failed compare
 * caused by someone else is retried (bounded, with jitter); a stale
 * resourceVersion given by the caller is a Conflict at once.
 *
 * Stored JSON holds uid and creationTimestamp but never resourceVersion:
 * that is always the key's mod revision, so it cannot disagree with etcd.
 */
import { randomUUID } from 'node:crypto';
import {
  type IPPool,
  type Kind,
  type Resource,
  type ResourceOf,
  type TerraceNode,
  TerraceError,
  checkPoolUpdate,
  decodeRemoteClusterState,
  firstPoolHoldingNode,
  firstRemotePoolOverlap,
  firstJudgedPoolOverlap,
  invalidField,
  nodeAddressesChanged,
  nodeInPoolError,
  overlapError,
  parseCidr,
  poolHoldsNodeError,
  remoteOverlapError,
  reservedProblem,
  resourceRef,
} from '@terrace/api';
import type { Etcd3, IKeyValue, IRequestOp, ICompare } from 'etcd3';
import type { Keys } from './keys.js';
import { decodeStoredResource, withVersion } from './resource-json.js';
import type { ListResult, ResourceStore, WriteOptions } from './store.js';
import { deleteOp, getOp, modEquals, prefixOp, prefixUnchangedSince, putOp, readAll, txn } from './txn.js';

export type ApplyAction = 'created' | 'configured' | 'unchanged';
type Mode = 'create' | 'replace' | 'apply';

export interface ResourceStoreOptions {
  /** Attempts before giving up on a transaction that keeps losing races. Default 10. */
  maxAttempts?: number;
}

/** The guard key moved by every change to the set of pools; node address changes compare it. */
export const POOL_GUARD = 'ippools';

/** JSON with object keys sorted, so that equal objects compare equal as strings. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** What is stored: the resource without resourceVersion. */
function storedBody(res: Resource): Resource {
  const { resourceVersion: _rv, ...metadata } = res.metadata;
  return { ...res, metadata } as Resource;
}

function staleError(ref: string, given: string, stored: string): TerraceError {
  return new TerraceError('Conflict', `${ref}: the object has been modified (resourceVersion ${given}, stored ${stored}); get it again and retry`, {
    resource: ref,
    field: 'metadata.resourceVersion',
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Full jitter, doubling from 10 ms up to 1 s: spreads out writers that
 * collided. Every pool write moves the one guard key, so N concurrent pool
 * writers succeed one per round; the window must grow fast enough that ten
 * attempts suffice for tens of writers even on a loaded machine.
 */
function backoffMs(attempt: number): number {
  return Math.random() * Math.min(1000, 10 * 2 ** attempt);
}

/** A compare that failed because someone else wrote; the caller retries. */
class LostRace extends Error {}

interface Decided {
  res: Resource;
  action: ApplyAction;
  key: string;
}

export class EtcdResourceStore implements ResourceStore {
  private readonly maxAttempts: number;

  constructor(
    private readonly etcd: Etcd3,
    private readonly keys: Keys,
    opts: ResourceStoreOptions = {},
  ) {
    this.maxAttempts = opts.maxAttempts ?? 10;
  }

  private decode(kv: IKeyValue): Resource {
    return decodeStoredResource(kv.key.toString(), kv.value.toString(), kv.mod_revision);
  }

  async get<K extends Kind>(kind: K, name: string): Promise<ResourceOf<K>> {
    const { results } = await readAll(this.etcd, [getOp(this.keys.resource(kind, name))]);
    const kv = results[0]?.[0];
    if (!kv) throw new TerraceError('NotFound', `${resourceRef(kind, name)} not found`, { resource: resourceRef(kind, name) });
    return this.decode(kv) as ResourceOf<K>;
  }

  async list<K extends Kind>(kind: K): Promise<ListResult<K>> {
    const { revision, results } = await readAll(this.etcd, [prefixOp(this.keys.resourcePrefix(kind))]);
    // Only direct children: a name never holds '/', so deeper keys are not ours.
    const items = (results[0] ?? []).filter((kv) => this.keys.parseResource(kv.key.toString())?.kind === kind).map((kv) => this.decode(kv) as ResourceOf<K>);
    return { items, revision };
  }

  async create<K extends Kind>(res: ResourceOf<K>, opts: WriteOptions = {}): Promise<ResourceOf<K>> {
    const [out] = await this.writeBatch([res], 'create', opts);
    return (out as Decided).res as ResourceOf<K>;
  }

  async replace<K extends Kind>(res: ResourceOf<K>, opts: WriteOptions = {}): Promise<ResourceOf<K>> {
    const [out] = await this.writeBatch([res], 'replace', opts);
    return (out as Decided).res as ResourceOf<K>;
  }

  async applyAll(resources: Resource[], opts: WriteOptions = {}): Promise<{ resource: Resource; action: ApplyAction }[]> {
    const batches = txnBatches(resources);
    if (batches.length <= 1) {
      const out = await this.writeBatch(resources, 'apply', opts);
      return out.map((d) => ({ resource: d.res, action: d.action }));
    }
    refuseDuplicates(resources);
    // Every batch is judged against the stored state before the first is
    // written, so a bad document stops the apply with nothing written.
    const checked: Decided[] = [];
    for (const b of batches) checked.push(...(await this.writeBatch(b, 'apply', { dryRun: true })));
    const written = opts.dryRun ? checked : [];
    if (!opts.dryRun) {
      for (const b of batches) {
        try {
          written.push(...(await this.writeBatch(b, 'apply', opts)));
        } catch (e) {
          if (written.length === 0 || !(e instanceof TerraceError)) throw e;
          throw new TerraceError(e.code, `${e.message}; ${written.length} of ${resources.length} documents were written before this (apply again to finish)`, {
            ...(e.resource !== undefined ? { resource: e.resource } : {}),
            cause: e,
          });
        }
        opts.onWritten?.(written.length, resources.length);
      }
    }
    // In the input's order, whatever order the batches took.
    const byKey = new Map(written.map((d) => [d.key, d]));
    return resources.map((r) => {
      const d = byKey.get(this.keys.resource(r.kind, r.metadata.name)) as Decided;
      return { resource: d.res, action: d.action };
    });
  }

  async delete<K extends Kind>(kind: K, name: string, opts: { resourceVersion?: string } = {}): Promise<ResourceOf<K>> {
    const ref = resourceRef(kind, name);
    const key = this.keys.resource(kind, name);
    const guard = this.keys.guard(POOL_GUARD);
    return this.withRetries([ref], async () => {
      const reads = [getOp(key)];
      if (kind === 'IPPool') reads.push(getOp(guard));
      const { revision, results } = await readAll(this.etcd, reads);
      const kv = results[0]?.[0];
      if (!kv) throw new TerraceError('NotFound', `${ref} not found`, { resource: ref });
      if (opts.resourceVersion !== undefined && opts.resourceVersion !== kv.mod_revision) {
        throw staleError(ref, opts.resourceVersion, kv.mod_revision);
      }
      const compare = [modEquals(key, kv.mod_revision)];
      const success = [deleteOp(key)];
      if (kind === 'IPPool') {
        compare.push(modEquals(guard, results[1]?.[0]?.mod_revision ?? '0'));
        success.push(putOp(guard, revision));
      }
      const r = await txn(this.etcd, compare, success);
      if (!r.succeeded) throw new LostRace();
      return this.decode(kv) as ResourceOf<K>;
    });
  }

  /** Runs attempt until it stops losing races, at most maxAttempts times. */
  private async withRetries<T>(refs: string[], attempt: () => Promise<T>): Promise<T> {
    for (let i = 0; i < this.maxAttempts; i++) {
      try {
        return await attempt();
      } catch (e) {
        if (!(e instanceof LostRace)) throw e;
        await sleep(backoffMs(i));
      }
    }
    const what = refs.length > 3 ? `${refs.slice(0, 3).join(', ')} and ${refs.length - 3} more` : refs.join(', ');
    throw new TerraceError('Conflict', `${what}: gave up after ${this.maxAttempts} attempts because other writers kept changing the same objects; retry`, {
      resource: refs[0],
    });
  }

  private async writeBatch(resources: Resource[], mode: Mode, opts: WriteOptions): Promise<Decided[]> {
    const refs = refuseDuplicates(resources);
    if (resources.length === 0) return [];
    return this.withRetries(refs, () => this.attemptBatch(resources, mode, opts));
  }

  private async attemptBatch(resources: Resource[], mode: Mode, opts: WriteOptions): Promise<Decided[]> {
    const keys = resources.map((r) => this.keys.resource(r.kind, r.metadata.name));
    const involvesPools = resources.some((r) => r.kind === 'IPPool' || r.kind === 'Node');
    const guard = this.keys.guard(POOL_GUARD);
    const nodePrefix = this.keys.resourcePrefix('Node');
    const reads: IRequestOp[] = keys.map(getOp);
    if (involvesPools) reads.push(prefixOp(this.keys.resourcePrefix('IPPool')), getOp(guard));
    // Every stored Node is needed only to judge a pool write. A Node-only
    // batch (every agent registering) checks its own addresses against the
    // pools: reading all Nodes there made N registrations cost O(N²).
    const writesPools = resources.some((r) => r.kind === 'IPPool');
    if (writesPools) reads.push(prefixOp(nodePrefix));
    // Remote clusters' pools, as the controller last saw them, in the same snapshot (only pool writes need them).
    const remotesAt = reads.length;
    if (writesPools) reads.push(prefixOp(this.keys.remoteStatePrefix()));
    const { revision, results } = await readAll(this.etcd, reads);

    const now = new Date().toISOString();
    const decided: Decided[] = [];
    const compare: ICompare[] = [];
    const success: IRequestOp[] = [];
    let poolsChanged = false;
    const movedNodes: TerraceNode[] = [];

    resources.forEach((res, i) => {
      const key = keys[i] as string;
      const ref = resourceRef(res.kind, res.metadata.name);
      const kv = results[i]?.[0];
      const stored = kv ? this.decode(kv) : undefined;
      if (mode === 'create' && stored) throw new TerraceError('AlreadyExists', `${ref} already exists`, { resource: ref });
      if (mode === 'replace' && !stored) throw new TerraceError('NotFound', `${ref} not found`, { resource: ref });
      const given = res.metadata.resourceVersion;
      // A create never has a version to compare against; an apply of an absent object creates it.
      if (stored && mode !== 'create' && given !== undefined && given !== '' && given !== kv?.mod_revision) {
        throw staleError(ref, given, kv?.mod_revision ?? '0');
      }
      const body = storedBody({
        ...res,
        metadata: {
          ...res.metadata,
          uid: stored?.metadata.uid ?? randomUUID(),
          creationTimestamp: stored?.metadata.creationTimestamp ?? now,
        },
      } as Resource);
      if (stored && res.kind === 'IPPool') checkPoolUpdate(stored as IPPool, body as IPPool);
      const unchanged = stored !== undefined && canonicalJson(storedBody(stored)) === canonicalJson(body);
      compare.push(modEquals(key, kv?.mod_revision ?? '0'));
      if (unchanged) {
        decided.push({ res: stored, action: 'unchanged', key });
        return;
      }
      success.push(putOp(key, JSON.stringify(body)));
      decided.push({ res: body, action: stored ? 'configured' : 'created', key });
      if (res.kind === 'IPPool') poolsChanged = true;
      if (res.kind === 'Node' && nodeAddressesChanged(stored as TerraceNode | undefined, body as TerraceNode)) movedNodes.push(body as TerraceNode);
    });

    if (poolsChanged || movedNodes.length > 0) {
      const guardKv = results[keys.length + 1]?.[0];
      this.checkPoolsAndNodes(decided, results[keys.length] ?? [], writesPools ? (results[keys.length + 2] ?? []) : [], movedNodes);
      this.checkRemotePools(decided, results[remotesAt] ?? []);
      compare.push(modEquals(guard, guardKv?.mod_revision ?? '0'));
      if (poolsChanged) {
        compare.push(prefixUnchangedSince(nodePrefix, revision));
        success.push(putOp(guard, revision));
      }
    }

    if (success.length === 0 || opts.dryRun) return decided;
    const r = await txn(this.etcd, compare, success);
    if (!r.succeeded) throw new LostRace();
    const rev = r.header.revision;
    return decided.map((d) => (d.action === 'unchanged' ? d : { ...d, res: withVersion(d.res, rev) }));
  }

  /**
   * New pools must not overlap a pool of a remote cluster (the multi-cluster
   * guard). Only pools this batch creates are judged: cidr is immutable, so
   * an update never moves a pool, and an existing pool that overlaps (the
   * remote changed later) must stay editable, e.g. to disable it. The state
   * docs are not compared in the commit: a remote pool that reaches the cache
   * just after this read is caught by the controller, which clears a new pool
   * for allocation only after a fresh read of every remote.
   */
  private checkRemotePools(decided: Decided[], stateKvs: IKeyValue[]): void {
    const created = decided.filter((d) => d.res.kind === 'IPPool' && d.action === 'created').map((d) => d.res as IPPool);
    if (created.length === 0) return;
    const remotes = stateKvs.map((kv) => decodeRemoteClusterState(kv.key.toString(), kv.value.toString()));
    const hit = firstRemotePoolOverlap(created, remotes);
    if (hit) throw remoteOverlapError(hit);
  }

  /**
   * The rules between pools and nodes, over the state after this batch:
   * stored pools and nodes with the batch's versions in place of theirs.
   * Only what the batch changes is judged, in batch order. `nodeKvs` is
   * empty unless the batch writes a pool (only a pool is judged against
   * every node).
   */
  private checkPoolsAndNodes(decided: Decided[], poolKvs: IKeyValue[], nodeKvs: IKeyValue[], movedNodes: TerraceNode[]): void {
    const finalPools = new Map<string, IPPool>();
    for (const kv of poolKvs) {
      if (this.keys.parseResource(kv.key.toString())?.kind !== 'IPPool') continue;
      const p = this.decode(kv) as IPPool;
      finalPools.set(p.metadata.name, p);
    }
    for (const d of decided) if (d.res.kind === 'IPPool') finalPools.set(d.res.metadata.name, d.res);
    const pools = [...finalPools.values()];
    const position = new Map(pools.map((p, i) => [p.metadata.name, i]));
    const changedPools = decided.filter((d) => d.res.kind === 'IPPool' && d.action !== 'unchanged').map((d) => d.res as IPPool);
    const nodes = new Map<string, TerraceNode>();
    for (const kv of nodeKvs) {
      if (this.keys.parseResource(kv.key.toString())?.kind !== 'Node') continue;
      const n = this.decode(kv) as TerraceNode;
      nodes.set(n.metadata.name, n);
    }
    for (const d of decided) if (d.res.kind === 'Node') nodes.set(d.res.metadata.name, d.res);

    for (const p of changedPools) {
      const reserved = reservedProblem(parseCidr(p.spec.cidr));
      if (reserved) throw invalidField(resourceRef('IPPool', p.metadata.name), 'spec.cidr', reserved);
    }
    const overlap = firstJudgedPoolOverlap(pools, changedPools.map((p) => position.get(p.metadata.name) as number));
    if (overlap) throw overlapError(overlap.pool, overlap.other);
    const holding = firstPoolHoldingNode(changedPools, [...nodes.values()]);
    if (holding) throw poolHoldsNodeError(holding.pool, holding.addr);
    const inside = firstPoolHoldingNode(pools, movedNodes);
    if (inside) throw nodeInPoolError(inside.addr, inside.pool);
  }
}

/**
 * Documents per transaction. etcd refuses a transaction of more than 128
 * operations by default (--max-txn-ops); a batch that writes pools also
 * compares and writes the pool guard and compares the Node prefix.
 */
export const MAX_DOCS_PER_TXN = 100;

const KIND_ORDER: Partial<Record<Resource['kind'], number>> = { IPPool: 0, Node: 1 };

/**
 * A write cut into transactions that etcd takes. Pools, then Nodes, come
 * first: they are the documents judged against each other, so a manifest
 * with up to MAX_DOCS_PER_TXN of them has them all in one transaction.
 */
export function txnBatches(resources: Resource[], size = MAX_DOCS_PER_TXN): Resource[][] {
  if (resources.length <= size) return [resources];
  const rank = (r: Resource): number => KIND_ORDER[r.kind] ?? 2;
  const ordered = resources.map((r, i) => ({ r, i })).sort((a, b) => rank(a.r) - rank(b.r) || a.i - b.i).map((x) => x.r);
  const out: Resource[][] = [];
  for (let i = 0; i < ordered.length; i += size) out.push(ordered.slice(i, i + size));
  return out;
}

/** The refs of one request's documents; a document named twice is refused. */
function refuseDuplicates(resources: Resource[]): string[] {
  const seen = new Set<string>();
  for (const r of resources) {
    const ref = resourceRef(r.kind, r.metadata.name);
    if (seen.has(ref)) throw new TerraceError('Invalid', `${ref}: appears more than once in the same request`, { resource: ref });
    seen.add(ref);
  }
  return [...seen];
}
