/**
 * What the allocator reads but never writes: pools, the IPAMConfig and node
 * labels (resources stored as JSON, fully defaulted), plus node liveness.
 * Reads are reused for a short TTL; a block claim still pins the pool's
 * revision in its transaction, so a stale pool can never be claimed from.
 */
import {
  type Cidr,
  type IPAMConfigSpec,
  type IPFamily,
  type IPPool,
  type Selector,
  type TerraceNode,
  TerraceError,
  cidrContainsCidr,
  parseCidr,
  parseSelector,
  resourceRef,
} from '@terrace/api';
import type { Keys } from '@terrace/datastore';
import type { Etcd3 } from 'etcd3';
import { readKey, readPrefix } from './kv.js';

export interface PoolView {
  name: string;
  cidr: Cidr;
  blockSize: number;
  disabled: boolean;
  manual: boolean;
  nodeSelector: string;
  selector: Selector;
  /** The pool resource's mod revision, compared when claiming a block from it. */
  modRevision: string;
}

export const DEFAULT_IPAM_CONFIG: IPAMConfigSpec = { strictAffinity: false, maxBlocksPerHost: 20, autoAllocateBlocks: true };

export function toPoolView(pool: IPPool, modRevision: string): PoolView {
  const ref = resourceRef('IPPool', pool.metadata.name);
  let selector: Selector;
  try {
    selector = parseSelector(pool.spec.nodeSelector ?? '');
  } catch (e) {
    throw new TerraceError('Invalid', `${ref}: spec.nodeSelector ${(e as Error).message}`, { resource: ref, field: 'spec.nodeSelector' });
  }
  return {
    name: pool.metadata.name,
    cidr: parseCidr(pool.spec.cidr),
    blockSize: pool.spec.blockSize,
    disabled: pool.spec.disabled === true,
    manual: pool.spec.assignmentMode === 'Manual',
    nodeSelector: pool.spec.nodeSelector ?? '',
    selector,
    modRevision,
  };
}

/**
 * The pools a request may use, in the order to try them: the named ones in
 * the order given, otherwise every Automatic pool by name. Disabled pools
 * and pools whose selector does not match the node are left out.
 */
export function eligiblePools(pools: PoolView[], family: IPFamily, labels: Record<string, string>, named?: string[]): PoolView[] {
  let list: PoolView[];
  if (named && named.length > 0) {
    list = named.map((n) => {
      const p = pools.find((x) => x.name === n);
      if (!p) throw new TerraceError('NotFound', `${resourceRef('IPPool', n)} does not exist`, { resource: resourceRef('IPPool', n) });
      return p;
    });
  } else {
    list = pools.filter((p) => !p.manual).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
  return list.filter((p) => p.cidr.family === family && !p.disabled && p.selector.matches(labels));
}

/** The pool a block lies in, if any. */
export function poolOfBlock(pools: PoolView[], block: Cidr): PoolView | undefined {
  return pools.find((p) => cidrContainsCidr(p.cidr, block));
}

interface Cached<T> {
  at: number;
  value: Promise<T>;
}

export class ClusterView {
  private poolsCache: Cached<PoolView[]> | undefined;
  private configCache: Cached<IPAMConfigSpec> | undefined;
  private readonly labelsCache = new Map<string, Cached<Record<string, string> | undefined>>();

  constructor(
    private readonly etcd: Etcd3,
    private readonly keys: Keys,
    /** How long a read is reused; 0 reads every time. */
    private readonly ttlMs: number,
  ) {}

  private fresh<T>(c: Cached<T> | undefined): c is Cached<T> {
    return c !== undefined && Date.now() - c.at < this.ttlMs;
  }

  /** Forget everything read (after a conflict that suggests it is stale). */
  invalidate(): void {
    this.poolsCache = undefined;
    this.configCache = undefined;
    this.labelsCache.clear();
  }

  pools(): Promise<PoolView[]> {
    if (!this.fresh(this.poolsCache)) {
      const value = readPrefix(this.etcd, this.keys.resourcePrefix('IPPool')).then(({ kvs }) =>
        kvs.map((kv) => toPoolView(JSON.parse(kv.text) as IPPool, kv.mod)),
      );
      value.catch(() => (this.poolsCache = undefined));
      this.poolsCache = { at: Date.now(), value };
    }
    return this.poolsCache.value;
  }

  config(): Promise<IPAMConfigSpec> {
    if (!this.fresh(this.configCache)) {
      const value = readKey(this.etcd, this.keys.resource('IPAMConfig', 'default')).then((kv) =>
        kv ? { ...DEFAULT_IPAM_CONFIG, ...(JSON.parse(kv.text) as { spec: Partial<IPAMConfigSpec> }).spec } : DEFAULT_IPAM_CONFIG,
      );
      value.catch(() => (this.configCache = undefined));
      this.configCache = { at: Date.now(), value };
    }
    return this.configCache.value;
  }

  /** The node's labels, or undefined when no Node resource is registered. */
  nodeLabels(node: string): Promise<Record<string, string> | undefined> {
    const c = this.labelsCache.get(node);
    if (this.fresh(c)) return c.value;
    const value = readKey(this.etcd, this.keys.resource('Node', node)).then((kv) =>
      kv ? ((JSON.parse(kv.text) as TerraceNode).metadata.labels ?? {}) : undefined,
    );
    value.catch(() => this.labelsCache.delete(node));
    this.labelsCache.set(node, { at: Date.now(), value });
    return value;
  }
}
