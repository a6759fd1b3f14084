/**
 * The controller: campaigns for leadership and, while it leads, runs a
 * reconcile pass every interval (and an extra one when a grace period
 * ends): ensure the default pool, read the cluster in one snapshot, plan
 * with the pure planner (gc.ts), apply, and publish the status.
 *
 * Everything it remembers (grace clocks, empty-block counts, totals)
 * belongs to one leadership and starts afresh when it is elected again;
 * see gc.ts for why that is the safe choice.
 */
import { EventEmitter } from 'node:events';
import { type ControllerStatus, type IPPool, monotonicMs, wallTimeOf } from '@terrace/api';
import { type Keys, type ResourceStore, WatchCache, type WatchChange } from '@terrace/datastore';
import type { BlockRecord } from '@terrace/ipam';
import type { Etcd3 } from 'etcd3';
import { type ApplyContext, type NodeReleaseOutcome, releaseDeadNode, releaseNodeEmptyBlocks } from './apply.js';
import { type GcPlan, type GcState, type NodeView, type PassKind, emptyGcState, nodeCameBack, nodeWentAway, planPass } from './gc.js';
import { LeaderElection } from './leader.js';
import { forEachLimited } from './limit.js';
import type { Logger } from '@terrace/log';
import { ensureDefaultPools } from './pools.js';
import { STATUS_ERRORS, buildStatus, writeStatus } from './status.js';
import { type Snapshot, readWorld } from './world.js';
import { confirmGone } from './confirm.js';
import { RemoteClusters, type RemoteClustersOptions } from './remote/manager.js';
import { EventLog } from './events.js';
import { formatDuration } from '@terrace/api';

export interface ControllerOptions {
  etcd: Etcd3;
  keys: Keys;
  store: ResourceStore;
  log: Logger;
  identity: string;
  nodeGraceMs: number;
  intervalMs: number;
  /** Election lease TTL, seconds. */
  leaseTtlSeconds: number;
  defaultPools?: readonly IPPool[];
  /** First delay before campaigning again after an election error, ms. */
  electionRetryMs?: number;
  /** How long to wait for the live agents' answers before freeing a dead node (hold.ts), ms; default 3000. */
  routeQueryTimeoutMs?: number;
  /** Remote-cluster sync (secrets directory, timings); see remote/manager.ts. */
  remote?: Partial<Omit<RemoteClustersOptions, 'etcd' | 'keys' | 'log' | 'leaderFence'>>;
}

export interface PassResult {
  kind: PassKind;
  startedAt: number;
  durationMs: number;
  /** Undefined when the cluster state could not be read. */
  plan: GcPlan | undefined;
  nodes: NodeReleaseOutcome[];
  /** Empty blocks of live nodes given back. */
  emptyBlocksReleased: string[];
  /** Blocks deleted with dead nodes. */
  nodeBlocksReleased: string[];
  addressesFreed: number;
  poolsCreated: string[];
  errors: string[];
  /** The IPAM blocks the pass read, when it released nothing (so they are still current); the metrics sample them. */
  blocks?: readonly BlockRecord[];
}

export interface ControllerEvents {
  elected: [];
  lost: [string];
  pass: [PassResult];
}

/** Dead nodes released at once within a pass. */
const RELEASE_CONCURRENCY = 8;

/** Grace deadlines are met a little late rather than a little early. */
const DEADLINE_SLACK_MS = 20;

export class Controller extends EventEmitter<ControllerEvents> {
  private readonly election: LeaderElection;
  private readonly alive: WatchCache<string>;
  /** Remote syncs, state docs and the fence: they run beside the passes, never inside them. */
  readonly remotes: RemoteClusters;
  /** Recent events for the status page (recorded while leading). */
  readonly events: EventLog;
  /** Nodes whose loss this leadership recorded: only those get a "node back" event (not a node still joining). */
  private lostRecorded = new Set<string>();
  private state: GcState = emptyGcState();
  private leaderSince = 0;
  private passes = 0;
  private totals: ControllerStatus['totals'] = { nodesReleased: 0, blocksReleased: 0, addressesFreed: 0, poolsCreated: 0 };
  private errors: { time: number; message: string }[] = [];
  private poolsEnsured = false;
  private intervalTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private deadlineAt = 0;
  private periodicQueued = false;
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly opts: ControllerOptions) {
    super();
    this.election = new LeaderElection({
      etcd: opts.etcd,
      keys: opts.keys,
      identity: opts.identity,
      ttlSeconds: opts.leaseTtlSeconds,
      log: opts.log,
      ...(opts.electionRetryMs !== undefined ? { retryMs: opts.electionRetryMs } : {}),
    });
    this.events = new EventLog({ etcd: opts.etcd, keys: opts.keys, log: opts.log, fence: () => (this.isLeader() ? this.election.fence() : undefined) });
    this.remotes = new RemoteClusters({
      secretsDir: undefined,
      onEvent: (kind, subject, message) => this.events.record(kind, subject, message),
      ...opts.remote,
      etcd: opts.etcd,
      keys: opts.keys,
      log: opts.log,
      leaderFence: () => (this.stopped ? undefined : this.election.fence()),
    });
    const prefix = opts.keys.alivePrefix();
    this.alive = new WatchCache<string>(opts.etcd, {
      prefix,
      decode: (kv) => {
        const name = kv.key.toString().slice(prefix.length);
        return name && !name.includes('/') ? name : undefined;
      },
    });
  }

  get identity(): string {
    return this.opts.identity;
  }

  /** Starts watching liveness, then campaigns. Resolves once the liveness view is synced. */
  async start(): Promise<void> {
    this.alive.on('change', (c) => this.onAliveChange(c));
    this.alive.on('unavailable', (e) => this.opts.log.warn('liveness watch cannot list; retrying', { error: e.message }));
    this.alive.start();
    await this.alive.waitSynced();
    this.election.on('elected', () => this.onElected());
    this.election.on('lost', (reason) => this.onLost(reason));
    this.election.on('leader', (leader) => this.opts.log.info('current leader', { leader: leader ?? '(none)' }));
    this.election.start();
  }

  /** See LeaderElection.stop: `resign: false` behaves like a crash (close the etcd client too). */
  async stop(opts: { resign?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimers();
    await this.remotes.stop();
    await this.events.settled();
    await this.election.stop(opts);
    await this.alive.close();
    await this.queue;
  }

  isLeader(): boolean {
    return !this.stopped && this.election.isLeader();
  }

  /** The leader the election observer last saw. */
  currentLeader(): string | undefined {
    return this.election.leader();
  }

  /** Runs one pass after any running one; undefined when not the leader. */
  runPass(kind: PassKind = 'periodic'): Promise<PassResult | undefined> {
    const p = this.queue.then(() => this.pass(kind));
    this.queue = p.catch(() => undefined);
    return p;
  }

  private aliveNow(node: string): boolean {
    return this.alive.get(this.opts.keys.alive(node)) !== undefined;
  }

  private onAliveChange(c: WatchChange<string>): void {
    const node = c.value ?? c.prev;
    if (!node || !this.isLeader()) return;
    if (c.type === 'deleted') {
      const before = this.state;
      this.state = nodeWentAway(this.state, node, monotonicMs());
      if (this.state !== before) {
        this.opts.log.info('node liveness key gone; grace period starts', { node, graceMs: this.opts.nodeGraceMs });
        this.lostRecorded.add(node);
        this.events.record('node lost', node, `${node} lost (liveness key gone); addresses freed after ${formatDuration(this.opts.nodeGraceMs)} unless it returns`);
      }
      this.scheduleDeadline(this.opts.nodeGraceMs);
    } else if (c.type === 'added') {
      const before = this.state;
      this.state = nodeCameBack(this.state, node);
      if (this.state !== before) {
        this.opts.log.info('node is back within its grace period; nothing will be released', { node });
        if (this.lostRecorded.delete(node)) this.events.record('node back', node, `${node} back within its grace period; nothing released`);
      }
    }
  }

  private onElected(): void {
    if (this.stopped) return;
    this.state = emptyGcState();
    this.lostRecorded.clear();
    this.leaderSince = Date.now();
    this.passes = 0;
    this.totals = { nodesReleased: 0, blocksReleased: 0, addressesFreed: 0, poolsCreated: 0 };
    this.errors = [];
    this.poolsEnsured = false;
    this.emit('elected');
    this.clearTimers();
    this.intervalTimer = setInterval(() => this.periodic(), this.opts.intervalMs);
    this.periodic();
    this.remotes.start();
  }

  private onLost(reason: string): void {
    this.clearTimers();
    this.state = emptyGcState();
    void this.remotes.stop();
    this.emit('lost', reason);
  }

  private periodic(): void {
    // A slow pass must not pile up periodic passes behind it.
    if (this.periodicQueued) return;
    this.periodicQueued = true;
    void this.runPass('periodic').finally(() => {
      this.periodicQueued = false;
    });
  }

  /** Arranges a deadline pass in `inMs`, unless one is already due sooner. */
  private scheduleDeadline(inMs: number | undefined): void {
    if (inMs === undefined || !this.isLeader()) return;
    const at = monotonicMs() + inMs + DEADLINE_SLACK_MS;
    if (this.deadlineTimer && this.deadlineAt <= at) return;
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineAt = at;
    this.deadlineTimer = setTimeout(() => {
      this.deadlineTimer = undefined;
      void this.runPass('deadline');
    }, at - monotonicMs());
  }

  private clearTimers(): void {
    if (this.intervalTimer) clearInterval(this.intervalTimer);
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.intervalTimer = undefined;
    this.deadlineTimer = undefined;
  }

  private applyContext(): ApplyContext {
    return { etcd: this.opts.etcd, keys: this.opts.keys, log: this.opts.log, stillLeader: () => this.isLeader(), aliveNow: (n) => this.aliveNow(n) };
  }

  /**
   * Of the dead nodes due for release, those no live agent still learns
   * routes of (hold.ts); the others are marked held in `views`, with why.
   */
  private async stillAnnounced(snap: Snapshot, nodes: readonly string[], views: NodeView[]): Promise<string[]> {
    if (nodes.length === 0) return [];
    const { etcd, keys, identity, log } = this.opts;
    const plan = await confirmGone({ etcd, keys, askedBy: `controller/${identity}`, timeoutMs: this.opts.routeQueryTimeoutMs ?? 3000 }, snap, nodes);
    if (plan.release.length > 0) log.info('no live agent learns their routes; releasing', { nodes: plan.release, asked: plan.asked, answered: plan.answered });
    for (const { node, reason } of plan.held) {
      log.warn('dead node not released: its routes are still in the fabric', { node, reason });
      const view = views.find((v) => v.node === node);
      if (view) Object.assign(view, { state: 'held', heldReason: reason });
    }
    return plan.release;
  }

  private async pass(kind: PassKind): Promise<PassResult | undefined> {
    if (!this.isLeader()) return undefined;
    const { log } = this.opts;
    const startedAt = Date.now();
    const startedMono = monotonicMs();
    const result: PassResult = { kind, startedAt, durationMs: 0, plan: undefined, nodes: [], emptyBlocksReleased: [], nodeBlocksReleased: [], addressesFreed: 0, poolsCreated: [], errors: [] };
    const fail = (what: string, e: unknown): void => {
      const message = `${what}: ${(e as Error).message}`;
      result.errors.push(message);
      this.errors.push({ time: Date.now(), message });
      if (this.errors.length > STATUS_ERRORS) this.errors.splice(0, this.errors.length - STATUS_ERRORS);
      log.warn('pass step failed', { step: what, error: (e as Error).message });
    };

    if (!this.poolsEnsured) {
      try {
        result.poolsCreated = await ensureDefaultPools(this.opts.store, this.opts.defaultPools ?? [], log, () => this.isLeader());
        this.poolsEnsured = this.isLeader();
        this.totals.poolsCreated += result.poolsCreated.length;
      } catch (e) {
        fail('create default pool', e);
      }
    }

    let views: NodeView[] = [];
    try {
      const snap = await readWorld(this.opts.etcd, this.opts.keys);
      if (!this.isLeader()) return undefined;
      for (const key of snap.invalid) fail('read cluster state', new Error(`${key} does not hold a valid block; left alone`));
      const plan = planPass(this.state, snap, monotonicMs(), this.opts.nodeGraceMs, kind);
      result.plan = plan;
      // The watch may already have seen some of the dead come back since the snapshot.
      let state = plan.state;
      for (const node of state.goneSince.keys()) if (this.aliveNow(node)) state = nodeCameBack(state, node);
      this.state = state;
      views = plan.nodes.map((n) => ({ ...n }));

      const ctx = this.applyContext();
      // Dead nodes are released side by side: each release is a few etcd
      // round trips per block, and one after another 100 dead nodes took
      // 100 times that. Their blocks are their own; a block two of them
      // borrowed from is guarded by its compare-and-swap like any other.
      await forEachLimited(await this.stillAnnounced(snap, plan.releaseNodes, views), RELEASE_CONCURRENCY, async (node) => {
        if (!this.isLeader()) return;
        try {
          const out = await releaseDeadNode(ctx, node, snap.addresses.get(node) ?? []);
          result.nodes.push(out);
          const view = views.find((v) => v.node === node);
          if (out.released) {
            result.addressesFreed += out.addresses;
            result.nodeBlocksReleased.push(...out.deletedBlocks);
            this.totals.nodesReleased++;
            this.totals.addressesFreed += out.addresses;
            this.totals.blocksReleased += out.deletedBlocks.length;
            if (view) Object.assign(view, { addresses: 0, blocks: out.unaffinedBlocks.length });
            this.lostRecorded.delete(node);
            if (out.addresses > 0) this.events.record('addresses freed', node, `${node}: ${out.addresses} address${out.addresses === 1 ? '' : 'es'} freed after its grace period`);
            if (out.deletedBlocks.length > 0) this.events.record('blocks released', node, `${node}: ${out.deletedBlocks.join(', ')} released`);
          } else if (view && out.reason === 'alive again') {
            view.state = 'alive';
            delete view.goneSince;
          }
        } catch (e) {
          fail(`release node ${node}`, e);
        }
      });
      for (const { node, blocks } of plan.releaseEmptyBlocks) {
        if (!this.isLeader()) break;
        try {
          const freed = await releaseNodeEmptyBlocks(ctx, node, blocks);
          result.emptyBlocksReleased.push(...freed);
          this.totals.blocksReleased += freed.length;
          if (freed.length > 0) this.events.record('blocks released', node, `${node}: empty ${freed.join(', ')} given back`);
          const view = views.find((v) => v.node === node);
          if (view) view.blocks -= freed.length;
        } catch (e) {
          fail(`release empty blocks of node ${node}`, e);
        }
      }
      this.scheduleDeadline(plan.nextDeadlineMs);
      if (result.nodes.length === 0 && plan.releaseEmptyBlocks.length === 0) result.blocks = snap.blockRecords;
    } catch (e) {
      fail('read cluster state', e);
    }

    this.passes++;
    result.durationMs = monotonicMs() - startedMono;
    await this.publish(views, result);
    const did = result.nodes.length + result.emptyBlocksReleased.length + result.poolsCreated.length + result.errors.length;
    log.log(did ? 'info' : 'debug', 'pass done', {
      kind,
      ms: result.durationMs,
      nodesReleased: result.nodes.filter((n) => n.released).length,
      addressesFreed: result.addressesFreed,
      blocksReleased: result.emptyBlocksReleased.length + result.nodeBlocksReleased.length,
      errors: result.errors.length,
    });
    this.emit('pass', result);
    return result;
  }

  private async publish(nodes: NodeView[], result: PassResult): Promise<void> {
    const fence = this.election.fence();
    if (!fence) return;
    const status = buildStatus({
      identity: this.opts.identity,
      leaderSince: this.leaderSince,
      lastPass: result.startedAt + result.durationMs,
      passes: this.passes,
      lastPassMs: result.durationMs,
      graceMs: this.opts.nodeGraceMs,
      intervalMs: this.opts.intervalMs,
      // The planner's times are monotonic; the record shows wall-clock times.
      nodes: nodes.map((n) => (n.goneSince === undefined ? n : { ...n, goneSince: wallTimeOf(n.goneSince) })),
      totals: this.totals,
      errors: this.errors,
      remotes: this.remotes.summary(),
    });
    try {
      if (!(await writeStatus(this.opts.etcd, this.opts.keys, fence, status))) await this.election.check();
    } catch (e) {
      this.opts.log.warn('cannot write the controller status', { error: (e as Error).message });
    }
  }
}
