/**
 * RouteSync keeps the kernel's routes of our protocol equal to a desired set.
 *
 * Callers hand over desired state (the whole set with setDesired, or changes
 * with upsert/remove) and never wait on the kernel unless they want to
 * (flush). One runner applies changes as batched rtnetlink requests through a
 * long-lived relay process (relay.ts; a large full sync in halves through
 * two, which the kernel serves in parallel): changes made while a batch is in
 * flight, or within the same tick, go out together as the next batch.
 *
 * What the runner believes the kernel holds comes from the kernel itself: a
 * full read (netlink dumps of our protocol's routes and of the links, through
 * the same relay) at the first sync and at every resync, and between them
 * the kernel's announcements, streamed by a second relay in listen mode
 * (listener.ts). An announcement that agrees with what we believe (the echo
 * of our own write) changes nothing; one that does not (a route of ours
 * deleted or changed by hand) queues its slot for the next batch, which
 * repairs it. A route of another protocol is never touched: one that takes
 * an identity we want is left alone and reported once. The periodic full
 * resync (read, plan, apply) stays as the safety net for what announcements
 * cannot tell: a listener that overran or died, refused changes, and a dead
 * writer's half-done batch. IPv4 routes removed with their device are not
 * announced by the kernel: callers that re-create a device say so (gone()).
 *
 * State is one slot per route identity (slots.ts): what we want there and
 * what we believe the kernel has there, side by side. A batch plans the
 * slots queued since the last one, a full sync plans every slot, both with
 * plan.ts's planSlots (the function the property tests check against a
 * model kernel). This file is the runner around them: the relays and the
 * listener, batching, backoff, the resync timer, flush waiters, logging.
 */
import { TerraceError } from '@terrace/api';
import { canonOf, identityText, type RouteCanon } from './canon.js';
import { DEFAULT_RESYNC_INTERVAL_MS } from './constants.js';
import { RouteListener } from './listener.js';
import { decodeRoutes, UnknownIfIndex, type AnyRoute, type IfNames } from './routemsg.js';
import { assume, planSize, planSlots, settle, splitPlan, type KernelEvent, type Plan, type Slot } from './plan.js';
import { RouteWriter, type BatchOutcome, type RouteWriterOptions } from './relay.js';
import { routeIdKey, type PrefixInput, type Route, type RouteId } from './route.js';
import { SlotTable } from './slots.js';

/** Full syncs at least this long are split over two relays. */
const SPLIT_MIN_CHANGES = 4096;
/**
 * How long a removal of a route through a device waits before it is
 * repaired: the device's own removal, if that is why, is announced by then.
 */
const DEVICE_GRACE_MS = 100;
/** How long a full sync waits for the listener to subscribe before reading the kernel anyway. */
const LISTENER_WAIT_MS = 2_000;

/** The subset of a winston logger route sync uses. */
export interface RouteSyncLogger {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

export interface RouteSyncOptions extends Pick<RouteWriterOptions, 'netns' | 'ipCommand' | 'perlCommand'> {
  /** Where problems are reported; default: warnings and errors on stderr. */
  readonly logger?: RouteSyncLogger;
  /** Period of the full resync; default DEFAULT_RESYNC_INTERVAL_MS (30 s); 0 turns the timer off. */
  readonly resyncIntervalMs?: number;
  /**
   * Keep routes of our protocol that are not desired until releaseStale() is
   * called. A restarted agent sets this: the kernel still holds the routes
   * the previous run installed, and its own desired set is incomplete until
   * BGP has re-sent what it learned, so removing "unknown" routes on the first
   * sync would cut traffic that is about to be re-confirmed (the same idea as
   * BGP graceful restart's stale routes).
   */
  readonly holdStale?: boolean;
  /**
   * Route protocols whose kernel announcements are dropped unread: another
   * daemon's routes that never collide with ours, such as BIRD's (a full
   * table of them would otherwise be decoded for nothing).
   */
  readonly ignoreProtocols?: readonly number[];
  /** Told about each full resync and each batch of refused changes (metrics); never on the write path's way. */
  readonly observer?: RouteSyncObserver;
}

export interface RouteSyncObserver {
  resynced?(report: ResyncReport): void;
  /** Changes the kernel refused or that another protocol's route blocked, in one batch. */
  kernelErrors?(count: number): void;
}

/** What one full resync found and did. */
export interface ResyncReport {
  /** Routes of our protocol the kernel had. */
  readonly kernelRoutes: number;
  readonly replaced: number;
  readonly removed: number;
  /** Changes the kernel refused (retried by the next resync). */
  readonly failed: number;
  readonly durationMs: number;
}

const stderrLogger: RouteSyncLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (m, meta) => console.error(`warn: ${m}`, meta ?? ''),
  error: (m, meta) => console.error(`error: ${m}`, meta ?? ''),
};

const MAX_BACKOFF_MS = 10_000;

export class RouteSync {
  private readonly opts: RouteSyncOptions;
  private readonly log: RouteSyncLogger;
  private readonly batch: RouteWriter;
  /** The kernel's announcements of route and link changes. */
  private readonly listener: RouteListener;
  /** Interface index → name in the routes' namespace: from each full read, kept current by announcements. */
  private readonly names: IfNames = new Map();
  /** Announcements that came while a full read was under way: applied after it. */
  private heldEvents: KernelEvent[] | undefined;
  /** What we want and what we believe the kernel has, per identity. */
  private readonly slots = new SlotTable();
  /** Whether the slots' `have` sides are read from the kernel; false until read and after a relay died mid-batch. */
  private kernelKnown = false;
  /** Bumped whenever the `have` sides are re-read or given up. */
  private kernelEpoch = 0;
  private resyncWanted = false;
  /** Every change bumps gen; applied is the gen the kernel has caught up with. */
  private gen = 0;
  private applied = 0;
  private waiters: { target: number; resolve: () => void }[] = [];
  private running: Promise<void> | undefined;
  private closed = false;
  private failStreak = 0;
  private backoff: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  /** A second relay for the other half of a large full sync. */
  private readonly second: RouteWriter;
  private holdingStale: boolean;
  private lastReport: ResyncReport | undefined;
  /** Identities already warned about as held by another protocol's route (reportBlocked). */
  private readonly warnedForeign = new Set<string>();
  /** A kernel read started ahead of the runner (see prefetch). */
  private prefetched: Promise<RouteCanon[] | undefined> | undefined;

  constructor(opts: RouteSyncOptions = {}) {
    this.opts = opts;
    this.holdingStale = opts.holdStale ?? false;
    this.log = opts.logger ?? stderrLogger;
    this.listener = new RouteListener({
      ...opts,
      onMessages: (b) => this.onAnnounced(b),
      // Announcements may have been missed: the kernel is read in full.
      onReset: () => this.requestResync(),
      onExit: (info) => this.log.warn('route sync: kernel listener relay exited; starting another', { ...info, netns: opts.netns }),
    });
    const batchOpts = {
      ...opts,
      onExit: (info: object) => this.log.warn('route sync: netlink relay exited; starting another', { ...info, netns: opts.netns }),
      // The echoes of our own writes are dropped before they reach us.
      onStart: () => this.listener.ignore(this.relayPids),
    };
    this.batch = new RouteWriter(batchOpts);
    // Started on the first large full sync only (RouteWriter spawns lazily).
    this.second = new RouteWriter(batchOpts);
    const every = opts.resyncIntervalMs ?? DEFAULT_RESYNC_INTERVAL_MS;
    if (every > 0) {
      this.timer = setInterval(() => this.requestResync(), every);
      this.timer.unref();
    }
  }

  /** The pid of the netlink relay, while one runs. */
  get batchPid(): number | undefined {
    return this.batch.pid;
  }

  /** The pids of the relays that run (the second only after a large full sync). */
  get relayPids(): number[] {
    return [this.batch.pid, this.second.pid].filter((p): p is number => p !== undefined);
  }

  /** The pid of the relay that listens to the kernel's announcements, while one runs. */
  get listenerPid(): number | undefined {
    return this.listener.pid;
  }

  /** Frames of changes sent to the kernel and not yet answered. */
  get inFlight(): number {
    return this.batch.inFlight + this.second.inFlight;
  }

  /** Number of desired routes. */
  get size(): number {
    return this.slots.wanted;
  }

  /**
   * Makes `routes` the whole desired set: routes of our protocol not in it are
   * removed. Validates every route first; an invalid one throws a TerraceError
   * and changes nothing.
   */
  setDesired(routes: Iterable<Route>): void {
    this.prefetch();
    const next = new Map<string, RouteCanon>();
    for (const r of routes) {
      const c = canonOf(r);
      next.set(c.key, c);
    }
    // A full sync is pending anyway when the kernel has not been read yet.
    this.slots.setDesired(next, this.kernelKnown && !this.resyncWanted);
    this.changed();
  }

  /** Adds or updates desired routes (by identity: table, destination, metric). */
  upsert(routes: Iterable<Route>): void {
    this.prefetch();
    // Validate everything before changing anything: an invalid route throws with nothing applied.
    const canons: RouteCanon[] = [];
    for (const r of routes) canons.push(canonOf(r));
    this.slots.upsert(canons);
    this.changed();
  }

  /**
   * Tells route sync that the kernel dropped these routes behind its back
   * (the device they went through was deleted, as when a pod's veth is
   * re-created): what it believed of them is void, and the next batch writes
   * those still wanted. A slot whose kernel side is another route is left
   * alone. (IPv6 routes removed with their device are announced, and may
   * have been seen already; IPv4 ones are not.)
   */
  gone(routes: Iterable<Route>): void {
    const canons: RouteCanon[] = [];
    for (const r of routes) canons.push(canonOf(r));
    this.slots.gone(canons);
    this.changed();
  }

  /** Removes desired routes by identity; a bare prefix means the main table and the default metric. */
  remove(ids: Iterable<RouteId | PrefixInput>): void {
    const keys: string[] = [];
    for (const id of ids) keys.push(routeIdKey(id));
    this.slots.remove(keys);
    this.changed();
  }

  /**
   * Resolves once every change made before the call has been applied by the
   * kernel (changes the kernel refused are logged and left to the next resync). While
   * the relay keeps dying or the kernel cannot be read, it waits for
   * the retries; close() releases it.
   */
  flush(): Promise<void> {
    const target = this.gen;
    if (this.applied >= target || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ target, resolve }));
  }

  /** Reads the kernel now, applies the difference, and reports what it found. */
  async resync(): Promise<ResyncReport> {
    this.resyncWanted = true;
    this.changed();
    await this.flush();
    return this.lastReport ?? { kernelRoutes: 0, replaced: 0, removed: 0, failed: 0, durationMs: 0 };
  }

  /**
   * Every route in the node's kernel, of any protocol, for reports (route
   * queries); read through the batch relay, whose dumps never wait for a batch.
   */
  async readAnyRoutes(): Promise<AnyRoute[]> {
    const routes = await this.batch.readAnyRoutes();
    if (routes === undefined) throw new TerraceError('Unavailable', "reading the kernel's routes: the netlink relay exited");
    return routes;
  }

  /** Stops the timer, finishes the batch in flight and ends the relays. Routes stay. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.backoff !== undefined) {
      clearTimeout(this.backoff.timer);
      this.backoff.resolve();
    }
    await this.running;
    await Promise.all([this.batch.close(), this.second.close(), this.listener.close()]);
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  /**
   * When the next run will read the kernel anyway (first use, or a resync is
   * due) and nothing is in flight, starts that read and the relay now:
   * both are other processes, so they run while the caller's routes are being
   * validated and rendered, instead of after.
   */
  private prefetch(): void {
    if (this.closed || this.running !== undefined || this.prefetched !== undefined) return;
    if (this.kernelKnown && !this.resyncWanted) return;
    const read = this.startRead();
    // Failures surface when fullSync awaits it.
    read.catch(() => undefined);
    this.prefetched = read;
  }

  /**
   * Reads the kernel's routes of our protocol through the relay, once the
   * listener has subscribed: every change after that is in the read or
   * announced after it (or both), and announcements that come during the
   * read are held and applied after it. Undefined when the relay died.
   */
  private async startRead(): Promise<RouteCanon[] | undefined> {
    this.batch.warm();
    await this.listener.ready(LISTENER_WAIT_MS);
    // From here on a request for a full resync asks for another read.
    this.resyncWanted = false;
    this.heldEvents ??= [];
    return this.batch.readRoutes(this.names);
  }

  /** Announcements from the kernel: link changes keep `names` current, route changes go to their slots. */
  private onAnnounced(b: Buffer): void {
    if (this.closed) return;
    let events: KernelEvent[];
    try {
      events = decodeRoutes(b, this.names, false, [], true);
    } catch (e) {
      // A device we cannot name (or an answer we cannot read): read the kernel in full.
      if (!(e instanceof UnknownIfIndex)) this.log.warn('route sync: unreadable kernel announcement; re-reading the kernel', { netns: this.opts.netns, error: String(e) });
      this.requestResync();
      return;
    }
    if (events.length === 0) return;
    if (this.heldEvents !== undefined) {
      for (const e of events) this.heldEvents.push(e);
      return;
    }
    // What we believe is void anyway until the next full read.
    if (!this.kernelKnown) return;
    if (this.observeAll(events)) this.kick();
  }

  /** Applies announced route changes; true when some slot was queued. */
  private observeAll(events: readonly KernelEvent[]): boolean {
    const o = this.slots.observeAll(events);
    this.reportBlocked(o.blocked);
    if (o.throughDevice.length > 0) this.afterLinks(o.throughDevice);
    return o.queued;
  }

  /** Slots waiting for afterLinks' timer. */
  private linkWait: Slot[] = [];

  /**
   * Queues routes whose removal through a device was announced, after
   * DEVICE_GRACE_MS, unless the device has gone meanwhile: such a route
   * cannot be put back before the device is, and the caller says when that
   * is (gone(), upsert()).
   */
  private afterLinks(slots: readonly Slot[]): void {
    const first = this.linkWait.length === 0;
    for (const s of slots) this.linkWait.push(s);
    if (!first) return;
    setTimeout(() => {
      const due = this.linkWait.filter((s) => s.want !== undefined && !this.lacksDevice(s.want));
      this.linkWait = [];
      if (!this.closed && this.slots.requeue(due)) this.kick();
    }, DEVICE_GRACE_MS).unref();
  }

  /** The route names a device the namespace no longer has. */
  private lacksDevice(c: RouteCanon): boolean {
    for (const h of c.hops) {
      if (h.dev === undefined) continue;
      let found = false;
      for (const n of this.names.values()) {
        if (n === h.dev) {
          found = true;
          break;
        }
      }
      if (!found) return true;
    }
    return false;
  }

  /**
   * Ends the hold of `holdStale`: the next full sync removes every route of
   * our protocol that is not desired. Idempotent.
   */
  releaseStale(): void {
    if (!this.holdingStale) return;
    this.holdingStale = false;
    // A change like any other: a flush() after this waits for the removal.
    this.resyncWanted = true;
    this.changed();
  }

  /** True while undesired routes of our protocol are kept (see holdStale). */
  get holdsStale(): boolean {
    return this.holdingStale;
  }

  /** What we believed of the kernel is void: the next run reads it in full. */
  private forgetKernel(): void {
    this.kernelKnown = false;
    this.kernelEpoch++;
  }

  private requestResync(): void {
    this.resyncWanted = true;
    this.kick();
  }

  private changed(): void {
    this.gen++;
    this.kick();
  }

  private kick(): void {
    if (this.running !== undefined || this.closed) return;
    // Started on the next turn of the event loop, so every change made in this
    // one goes out in the same batch.
    this.running = new Promise((resolve) => setImmediate(resolve))
      .then(() => this.loop())
      .catch(async (e: unknown) => {
        // What the failed batch did is unknown: like a relay that died, the
        // kernel is read again before anything else, after a backoff (a
        // fault that repeats must not spin).
        this.log.error('route sync: runner failed; re-reading the kernel', { error: String(e) });
        this.forgetKernel();
        if (!this.closed) await this.sleepBackoff();
      })
      .finally(() => {
        this.running = undefined;
        // A change made after the loop's last look (even one that queued
        // nothing) is picked up by another run.
        if (!this.closed && (this.slots.hasQueued || this.resyncWanted || this.applied < this.gen)) this.kick();
      });
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      let ok: boolean;
      if (!this.kernelKnown || this.resyncWanted || this.prefetched !== undefined) ok = await this.fullSync();
      else if (this.slots.hasQueued) ok = await this.incremental();
      else {
        // Nothing queued, nothing in flight: every change so far is in the
        // kernel, including those that changed nothing there (a setDesired
        // of the same set), whose flush() would otherwise wait for the next.
        this.markApplied(this.gen);
        return;
      }
      if (ok) this.failStreak = 0;
      else await this.sleepBackoff();
    }
  }

  private async sleepBackoff(): Promise<void> {
    this.failStreak++;
    const ms = Math.min(100 * 2 ** (this.failStreak - 1), MAX_BACKOFF_MS);
    await new Promise<void>((resolve) => {
      this.backoff = { timer: setTimeout(resolve, ms), resolve };
    });
    this.backoff = undefined;
  }

  private async fullSync(): Promise<boolean> {
    const started = performance.now();
    let actual: RouteCanon[] | undefined;
    const read = this.prefetched ?? this.startRead();
    this.prefetched = undefined;
    try {
      actual = await read;
    } catch (e) {
      this.log.warn('route sync: cannot read kernel routes; retrying', { netns: this.opts.netns, error: String(e) });
      actual = undefined;
    }
    const held = this.heldEvents ?? [];
    this.heldEvents = undefined;
    if (actual === undefined) {
      this.log.warn('route sync: netlink relay died before answering a read of the kernel; reading again', { netns: this.opts.netns });
      this.resyncWanted = true;
      return false;
    }
    // Everything changed up to now is covered by this plan.
    const target = this.gen;
    this.kernelEpoch++;
    this.kernelKnown = true;
    this.slots.load(actual);
    // Changes announced during the read, in order, over what it found.
    if (held.length > 0) this.observeAll(held);
    this.slots.takeQueued();
    const work = planSlots(this.slots.values(), this.holdingStale);
    this.slots.drop(work.vacant);
    const failed = await this.apply(work);
    if (failed < 0) return false;
    const report = {
      kernelRoutes: actual.length,
      replaced: work.replace.length,
      removed: work.remove.length,
      failed,
      durationMs: performance.now() - started,
    };
    this.lastReport = report;
    this.opts.observer?.resynced?.(report);
    if (report.replaced + report.removed > 0) this.log.info('route sync: resync applied changes', { netns: this.opts.netns, ...report });
    else this.log.debug('route sync: resync found nothing to change', { netns: this.opts.netns, ...report });
    this.markApplied(target);
    return true;
  }

  private async incremental(): Promise<boolean> {
    const target = this.gen;
    const work = planSlots(this.slots.takeQueued(), this.holdingStale);
    for (const s of work.vacant) this.slots.prune(s);
    // One relay: incremental changes arrive while BGP is busy receiving, when
    // CPU time matters more than the wall time a second relay saves (it costs
    // a quarter more kernel and relay time: docs/BENCHMARKS.md, pipeline).
    if ((await this.apply(work, false)) < 0) return false;
    this.markApplied(target);
    return true;
  }

  /**
   * Sends one plan and updates what we believe the kernel holds. Returns the
   * number of refused changes, or -1 when a relay died before confirming it
   * (then the kernel is re-read before anything else).
   */
  private async apply(work: Plan, split = true): Promise<number> {
    this.reportBlocked(work.blocked);
    const n = planSize(work);
    if (n === 0) return 0;
    if (!split || n < SPLIT_MIN_CHANGES) return this.applyVia(this.batch, work);
    // Two relays take a large batch in halves: the kernel serves two
    // requesters in parallel, which shortens a full sync on an otherwise idle
    // node (docs/BENCHMARKS.md). Each route is in one half only, so its
    // changes keep their order.
    const [one, two] = splitPlan(work);
    // Both halves are waited for, even when one throws: each writer is then free for the next batch.
    const [a, b] = await Promise.allSettled([this.applyVia(this.batch, one), this.applyVia(this.second, two)]);
    if (a.status === 'rejected') throw a.reason;
    if (b.status === 'rejected') throw b.reason;
    return a.value < 0 || b.value < 0 ? -1 : a.value + b.value;
  }

  private async applyVia(writer: RouteWriter, work: Plan): Promise<number> {
    const { remove, replace, ours } = work;
    if (planSize(work) === 0) return 0;
    const epoch = this.kernelEpoch;
    assume(work);
    const batch = writer.begin();
    let thrown: { error: unknown } | undefined;
    try {
      for (let i = 0; i < remove.length; i++) batch.write('del', remove[i] as RouteCanon);
      // `replace` only over a route we know is ours; `add` elsewhere (plan.ts).
      for (let i = 0; i < replace.length; i++) batch.write(ours[i] ? 'replace' : 'add', replace[i] as RouteCanon);
    } catch (e) {
      thrown = { error: e };
    }
    // Always ended, so the writer takes the next batch; a throw then goes to
    // the runner, which re-reads the kernel.
    const outcome = await batch.end();
    if (thrown !== undefined) throw thrown.error;
    // The other half's process died meanwhile: the kernel is being re-read anyway.
    if (this.kernelEpoch !== epoch) return -1;
    if (outcome.lost) {
      this.log.warn('route sync: netlink relay died before confirming a batch; re-reading the kernel', {
        netns: this.opts.netns,
        changes: planSize(work),
      });
      this.forgetKernel();
      return -1;
    }
    const failed = this.recordFailures(outcome, work);
    for (const s of work.removeSlots) this.slots.prune(s);
    return failed;
  }

  /** Updates what we believe after refused changes, and reports them; returns how many there were. */
  private recordFailures(outcome: BatchOutcome, work: Plan): number {
    const { refused, blocked } = outcome.failures.length === 0 ? { refused: [], blocked: [] } : settle(work, outcome.failures);
    if (this.warnedForeign.size > 0) {
      // Ours is in: a route of another protocol there later is news again.
      for (const s of work.replaceSlots) if (!s.foreign) this.warnedForeign.delete(s.key);
    }
    if (outcome.failures.length === 0) return 0;
    if (refused.length + blocked.length > 0) this.opts.observer?.kernelErrors?.(refused.length + blocked.length);
    const byIndex = new Map(outcome.failures.map((f) => [f.index, f]));
    this.reportBlocked(blocked);
    if (refused.length > 0) {
      this.log.warn(`route sync: the kernel refused ${refused.length} route change(s); the next resync retries them`, {
        netns: this.opts.netns,
        examples: refused.slice(0, 5).map((r) => {
          const f = byIndex.get(r.index);
          return `${f?.line}: ${f?.message}`;
        }),
      });
    }
    return refused.length + blocked.length;
  }

  /**
   * Warns about wanted routes a route of another protocol keeps out, once
   * per identity (until ours is installed there).
   */
  private reportBlocked(blocked: readonly Slot[]): void {
    if (blocked.length === 0) return;
    const fresh: Slot[] = [];
    for (const s of blocked) {
      if (this.warnedForeign.has(s.key)) continue;
      this.warnedForeign.add(s.key);
      fresh.push(s);
    }
    if (fresh.length === 0) return;
    this.log.warn(`route sync: ${fresh.length} desired route(s) not installed: a route we did not install (of another protocol, unless it appeared behind our back) holds the same table, destination and metric; it is left alone`, {
      netns: this.opts.netns,
      examples: fresh.slice(0, 5).map((s) => (s.want === undefined ? '?' : identityText(s.want))),
    });
  }

  private markApplied(target: number): void {
    if (target > this.applied) this.applied = target;
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (w.target <= this.applied) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }
}
