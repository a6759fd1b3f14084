/**
 * What the status page reads: one watch over the cluster's whole prefix,
 * keeping only the records the page shows (resources of five kinds, IPAM
 * blocks, liveness, node status, the controller's status and events, the
 * remote-cluster docs and fence). Handles, affinities, guards and election
 * keys are skipped as they arrive.
 *
 * Read-only: it never writes. Every controller, leader or standby, runs one
 * when the page is on. Building the state costs a large cluster a noticeable
 * slice of the event loop (every node's status changes every few seconds), so
 * it is built only for someone looking: while a stream is open (`viewing()`),
 * a change is folded in after a debounce and a tick recomputes the
 * time-dependent parts (stale flags); with no stream, changes only mark the
 * state out of date and `current()` builds it when asked.
 */
import { EventEmitter } from 'node:events';
import {
  type BGPConfiguration,
  type BGPPeer,
  type ClusterFence,
  type ControllerEvent,
  type ControllerStatus,
  type IPPool,
  type NodeStatus,
  type RemoteCluster,
  type RemoteClusterState,
  type Resource,
  type TerraceNode,
  monotonicMs,
} from '@terrace/api';
import { type Keys, WatchCache, decodeStoredResource } from '@terrace/datastore';
import { type BlockRecord, decodeBlock } from '@terrace/ipam';
import type { Logger } from '@terrace/log';
import type { Etcd3, IKeyValue } from 'etcd3';
import { decodeEvents } from '../events.js';
import { type PageInput, type PageState, buildPageState } from './state.js';

type Item =
  | { t: 'resource'; res: Resource }
  | { t: 'block'; block: BlockRecord }
  | { t: 'alive'; node: string }
  | { t: 'status'; status: NodeStatus }
  | { t: 'controller'; status: ControllerStatus }
  | { t: 'events'; events: ControllerEvent[] }
  | { t: 'remote'; state: RemoteClusterState }
  | { t: 'fence'; fence: ClusterFence };

const PAGE_KINDS = new Set(['IPPool', 'BGPPeer', 'BGPConfiguration', 'Node', 'RemoteCluster']);

/** Classifies one stored key; undefined for keys the page does not show. Throws on a record it cannot read (the cache leaves it out). */
export function decodePageItem(keys: Keys, kv: IKeyValue): Item | undefined {
  const key = kv.key.toString();
  const text = (): string => kv.value.toString();
  const json = <T>(): T => JSON.parse(text()) as T;
  const res = keys.parseResource(key);
  if (res) return PAGE_KINDS.has(res.kind) ? { t: 'resource', res: decodeStoredResource(key, text(), kv.mod_revision) } : undefined;
  if (key.startsWith(keys.blockPrefix())) return { t: 'block', block: decodeBlock(key, text()) };
  if (key.startsWith(keys.alivePrefix())) {
    const node = key.slice(keys.alivePrefix().length);
    return node && !node.includes('/') ? { t: 'alive', node } : undefined;
  }
  if (key.startsWith(keys.statusPrefix())) return { t: 'status', status: json<NodeStatus>() };
  if (key === keys.controllerStatus()) return { t: 'controller', status: json<ControllerStatus>() };
  if (key === keys.controllerEvents()) return { t: 'events', events: decodeEvents(text()) };
  if (key.startsWith(keys.remoteStatePrefix())) return { t: 'remote', state: json<RemoteClusterState>() };
  if (key === keys.fence()) return { t: 'fence', fence: json<ClusterFence>() };
  return undefined;
}

/** Sorts the cached items into the builder's input. */
export function pageInputOf(items: Iterable<Item>, base: Pick<PageInput, 'cluster' | 'now' | 'servedBy' | 'leading'>): PageInput {
  const input: PageInput = {
    ...base,
    pools: [],
    bgpPeers: [],
    bgpConfigurations: [],
    nodes: [],
    remoteClusters: [],
    blocks: [],
    alive: new Set<string>(),
    statuses: [],
    controller: undefined,
    events: [],
    remoteStates: [],
    fence: undefined,
  };
  const alive = new Set<string>();
  const [pools, peers, configs, nodes, remotes, blocks, statuses, states] = [
    [] as IPPool[], [] as BGPPeer[], [] as BGPConfiguration[], [] as TerraceNode[], [] as RemoteCluster[], [] as BlockRecord[], [] as NodeStatus[], [] as RemoteClusterState[],
  ];
  for (const it of items) {
    switch (it.t) {
      case 'resource':
        if (it.res.kind === 'IPPool') pools.push(it.res);
        else if (it.res.kind === 'BGPPeer') peers.push(it.res);
        else if (it.res.kind === 'BGPConfiguration') configs.push(it.res);
        else if (it.res.kind === 'Node') nodes.push(it.res);
        else if (it.res.kind === 'RemoteCluster') remotes.push(it.res);
        break;
      case 'block': blocks.push(it.block); break;
      case 'alive': alive.add(it.node); break;
      case 'status': statuses.push(it.status); break;
      case 'controller': input.controller = it.status; break;
      case 'events': input.events = it.events; break;
      case 'remote': states.push(it.state); break;
      case 'fence': input.fence = it.fence; break;
    }
  }
  return { ...input, pools, bgpPeers: peers, bgpConfigurations: configs, nodes, remoteClusters: remotes, blocks, alive, statuses, remoteStates: states };
}

export interface PageSourceOptions {
  etcd: Etcd3;
  keys: Keys;
  log: Logger;
  servedBy: string;
  leading: () => boolean;
  /** Whether anyone is watching the stream now; without, nothing is built until `current()` is called. */
  viewing: () => boolean;
  /** Delay between a change and the new state, ms. Default 1000. */
  debounceMs?: number;
  /** Period of the recompute without changes (stale flags, leadership), ms. Default 2000. */
  tickMs?: number;
}

export class PageSource extends EventEmitter<{ state: [PageState] }> {
  private readonly cache: WatchCache<Item>;
  private stateNow: PageState | undefined;
  /** When stateNow was built (ms); it is rebuilt when asked for after a tick's time. */
  private builtAt = 0;
  /** Something changed since stateNow was built. */
  private dirty = true;
  private json = '';
  private debounce: NodeJS.Timeout | undefined;
  private tick: NodeJS.Timeout | undefined;
  private buildCount = 0;

  constructor(private readonly opts: PageSourceOptions) {
    super();
    this.cache = new WatchCache<Item>(opts.etcd, { prefix: opts.keys.prefix, decode: (kv) => decodePageItem(opts.keys, kv) });
  }

  /** How many times the state was built (a test checks nothing is built with no one watching). */
  get builds(): number {
    return this.buildCount;
  }

  /** Starts watching; resolves once the first list is in. */
  async start(): Promise<void> {
    this.cache.on('change', () => this.schedule());
    this.cache.on('synced', () => this.schedule());
    this.cache.on('unavailable', (e) => this.opts.log.warn('status page: cannot list etcd; retrying', { error: e.message }));
    this.cache.on('invalid', ({ key, error }) => this.opts.log.warn('status page: record left out', { key, error: error.message }));
    this.cache.start();
    await this.cache.waitSynced();
    this.tick = setInterval(() => {
      if (this.opts.viewing()) this.refresh();
    }, this.tickMs());
  }

  async close(): Promise<void> {
    if (this.debounce) clearTimeout(this.debounce);
    if (this.tick) clearInterval(this.tick);
    await this.cache.close();
  }

  /** The state now: the last one built, or a new one when something changed or it is a tick old. */
  current(): PageState {
    if (this.stateNow === undefined || this.dirty || monotonicMs() - this.builtAt >= this.tickMs()) this.refresh();
    return this.stateNow as PageState;
  }

  private tickMs(): number {
    return this.opts.tickMs ?? 2000;
  }

  private schedule(): void {
    this.dirty = true;
    if (this.debounce || !this.opts.viewing()) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      if (this.opts.viewing()) this.refresh();
    }, this.opts.debounceMs ?? 1000);
  }

  private build(): PageState {
    this.buildCount++;
    this.dirty = false;
    // Monotonic: on the wall clock a clock set back kept serving the old state for as long as the step.
    this.builtAt = monotonicMs();
    return buildPageState(
      pageInputOf(this.cache.values(), { cluster: this.opts.keys.cluster, now: Date.now(), servedBy: this.opts.servedBy, leading: this.opts.leading() }),
    );
  }

  /**
   * Rebuilds; tells listeners only when something besides the clock changed.
   * A node's statusUpdatedAt moves every few seconds on every node without
   * anything to see, so it is left out of the comparison; every state sent
   * carries the latest one.
   */
  private refresh(): void {
    const next = this.build();
    const json = JSON.stringify({ ...next, generatedAt: '', nodes: next.nodes.map((n) => ({ ...n, statusUpdatedAt: '' })) });
    this.stateNow = next;
    if (json === this.json) return;
    this.json = json;
    this.emit('state', next);
  }
}
