/**
 * RouteSync keeps the kernel's routes of our protocol equal to a desired set.
 *
 * Callers hand over desired state (the whole set with setDesired, or changes
 * with upsert/remove) and never wait on the kernel unless they want to
 * (flush). One runner applies changes as batched rtnetlink requests through a
 * long-lived relay process (relay.ts; a large full sync in halves through
 * two, which the kernel serves in parallel): changes made while a batch is in
 * flight, or within the same tick, go out together as the next batch. What
 * the runner believes the kernel holds is checked against the kernel itself
 * (read with `ip route show`) by a periodic full resync (read, diff, apply),
 * which repairs drift, refused changes and whatever a dead relay left half
 * done. Routes of any other protocol are never read, so never touched.
 */
import type { Cidr } from '@terrace/api';
import { canonMatches, canonOf, type RouteCanon } from './canon.js';
import { DEFAULT_RESYNC_INTERVAL_MS } from './constants.js';
import { diffCanons } from './diff.js';
import { readKernelCanons, type IpOptions } from './kernel.js';
import { RouteWriter, type BatchOutcome, type RouteWriterOptions } from './relay.js';
import { routeIdKey, type Route, type RouteId } from './route.js';

/** Full syncs at least this long are split over two relays. */
const SPLIT_MIN_CHANGES = 4096;

/** The subset of a winston logger route sync uses. */
export interface RouteSyncLogger {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

export interface RouteSyncOptions extends IpOptions, Pick<RouteWriterOptions, 'perlCommand'> {
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

/**
 * A kernel route we are not sure about: a unicast route without next hops,
 * which no desired route matches, so it is rewritten at the next chance. Its
 * identity is kept, so it can still be deleted.
 */
function unsure(c: RouteCanon): RouteCanon {
  return { ...c, kind: 'unicast', hops: [] };
}

/** Exactly the same route (canonMatches lets a missing device match any). */
function same(a: RouteCanon | undefined, b: RouteCanon): boolean {
  return a !== undefined && canonMatches(a, b) && canonMatches(b, a);
}

const MAX_BACKOFF_MS = 10_000;

export class RouteSync {
  private readonly opts: RouteSyncOptions;
  private readonly log: RouteSyncLogger;
  private readonly batch: RouteWriter;
  private desired = new Map<string, RouteCanon>();
  /** What we believe the kernel holds; undefined until read (and after a relay died mid-batch). */
  private kernel: Map<string, RouteCanon> | undefined;
  /** Keys changed since the last batch. */
  private dirty = new Set<string>();
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
  /** A kernel read started ahead of the runner (see prefetch). */
  private prefetched: Promise<RouteCanon[]> | undefined;

  constructor(opts: RouteSyncOptions = {}) {
    this.opts = opts;
    this.holdingStale = opts.holdStale ?? false;
    this.log = opts.logger ?? stderrLogger;
    const batchOpts = {
      ...opts,
      onExit: (info: object) => this.log.warn('route sync: netlink relay exited; starting another', { ...info, netns: opts.netns }),
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

  /** Frames of changes sent to the kernel and not yet answered. */
  get inFlight(): number {
    return this.batch.inFlight + this.second.inFlight;
  }

  /** Number of desired routes. */
  get size(): number {
    return this.desired.size;
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
    if (this.kernel !== undefined && !this.resyncWanted) {
      for (const [key, c] of next) {
        if (!same(this.desired.get(key), c)) this.dirty.add(key);
      }
      for (const key of this.desired.keys()) if (!next.has(key)) this.dirty.add(key);
    }
    this.desired = next;
    this.changed();
  }

  /** Adds or updates desired routes (by identity: table, destination, metric). */
  upsert(routes: Iterable<Route>): void {
    this.prefetch();
    // Validate everything before changing anything: an invalid route throws with nothing applied.
    const canons: RouteCanon[] = [];
    for (const r of routes) canons.push(canonOf(r));
    for (const c of canons) {
      this.desired.set(c.key, c);
      this.dirty.add(c.key);
    }
    this.changed();
  }

  /** Removes desired routes by identity; a bare Cidr means the main table and the default metric. */
  remove(ids: Iterable<RouteId | Cidr>): void {
    for (const id of ids) {
      const key = routeIdKey(id);
      this.desired.delete(key);
      this.dirty.add(key);
    }
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
    await Promise.all([this.batch.close(), this.second.close()]);
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
    if (this.kernel !== undefined && !this.resyncWanted) return;
    const read = readKernelCanons(this.opts);
    // Failures surface when fullSync awaits it.
    read.catch(() => undefined);
    this.prefetched = read;
    this.batch.warm();
  }

  /**
   * Ends the hold of `holdStale`: the next full sync removes every route of
   * our protocol that is not desired. Idempotent.
   */
  releaseStale(): void {
    if (!this.holdingStale) return;
    this.holdingStale = false;
    this.requestResync();
  }

  /** True while undesired routes of our protocol are kept (see holdStale). */
  get holdsStale(): boolean {
    return this.holdingStale;
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
      .catch((e: unknown) => this.log.error('route sync: runner failed', { error: String(e) }))
      .finally(() => {
        this.running = undefined;
        if (!this.closed && (this.dirty.size > 0 || this.resyncWanted)) this.kick();
      });
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      let ok: boolean;
      if (this.kernel === undefined || this.resyncWanted) ok = await this.fullSync();
      else if (this.dirty.size > 0) ok = await this.incremental();
      else return;
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
    this.resyncWanted = false;
    let actual: RouteCanon[];
    const prefetched = this.prefetched;
    this.prefetched = undefined;
    this.batch.warm();
    try {
      actual = await (prefetched ?? readKernelCanons(this.opts));
    } catch (e) {
      this.log.warn('route sync: cannot read kernel routes; retrying', { netns: this.opts.netns, error: String(e) });
      this.resyncWanted = true;
      return false;
    }
    // Everything changed up to now is covered by this diff.
    const target = this.gen;
    this.dirty.clear();
    const kernel = new Map<string, RouteCanon>();
    for (const c of actual) kernel.set(c.key, c);
    this.kernel = kernel;
    const diff = diffCanons(this.desired, kernel);
    const remove = this.holdingStale ? [] : diff.remove;
    const failed = await this.apply(diff.replace, remove);
    if (failed < 0) return false;
    const report = {
      kernelRoutes: actual.length,
      replaced: diff.replace.length,
      removed: remove.length,
      failed,
      durationMs: performance.now() - started,
    };
    this.lastReport = report;
    if (report.replaced + report.removed > 0) this.log.info('route sync: resync applied changes', { netns: this.opts.netns, ...report });
    else this.log.debug('route sync: resync found nothing to change', { netns: this.opts.netns, ...report });
    this.markApplied(target);
    return true;
  }

  private async incremental(): Promise<boolean> {
    const kernel = this.kernel as Map<string, RouteCanon>;
    const target = this.gen;
    const keys = this.dirty;
    this.dirty = new Set();
    const replace: RouteCanon[] = [];
    const remove: RouteCanon[] = [];
    // Which replacements go over a route of ours (known here already, so the
    // batch need not look each up again).
    const ours: boolean[] = [];
    for (const key of keys) {
      const want = this.desired.get(key);
      const have = kernel.get(key);
      if (want !== undefined) {
        if (have === undefined || !canonMatches(want, have)) {
          replace.push(want);
          ours.push(have !== undefined);
        }
      } else if (have !== undefined) {
        remove.push(have);
      }
    }
    // One relay: incremental changes arrive while BGP is busy receiving, when
    // CPU time matters more than the wall time a second relay saves (it costs
    // a quarter more kernel and relay time: docs/BENCHMARKS.md, pipeline).
    if ((await this.apply(replace, remove, ours, false)) < 0) return false;
    this.markApplied(target);
    return true;
  }

  /**
   * Sends one batch and updates what we believe the kernel holds. Returns the
   * number of refused changes, or -1 when a relay died before confirming it
   * (then the kernel is re-read before anything else).
   */
  private async apply(replace: readonly RouteCanon[], remove: readonly RouteCanon[], ours?: readonly boolean[], split = true): Promise<number> {
    const n = replace.length + remove.length;
    if (n === 0) return 0;
    if (!split || n < SPLIT_MIN_CHANGES) return this.applyVia(this.batch, replace, remove, ours);
    // Two relays take a large batch in halves: the kernel serves two
    // requesters in parallel, which shortens a full sync on an otherwise idle
    // node (docs/BENCHMARKS.md). Each route is in one half only, so its
    // changes keep their order.
    const r = replace.length >> 1;
    const d = remove.length >> 1;
    const [a, b] = await Promise.all([
      this.applyVia(this.batch, replace.slice(0, r), remove.slice(0, d), ours?.slice(0, r)),
      this.applyVia(this.second, replace.slice(r), remove.slice(d), ours?.slice(r)),
    ]);
    return a < 0 || b < 0 ? -1 : a + b;
  }

  private async applyVia(writer: RouteWriter, replace: readonly RouteCanon[], remove: readonly RouteCanon[], known?: readonly boolean[]): Promise<number> {
    const kernel = this.kernel as Map<string, RouteCanon>;
    if (replace.length + remove.length === 0) return 0;
    const added = new Array<boolean>(replace.length);
    const batch = writer.begin();
    for (const c of remove) {
      batch.write('del', c);
      kernel.delete(c.key);
    }
    for (let i = 0; i < replace.length; i++) {
      const c = replace[i] as RouteCanon;
      // `replace` only over a route we know is ours. Where we know of none,
      // `add`: it fails rather than overwrite a route of another protocol
      // that holds the same identity (replace matches any protocol).
      const ours = known === undefined ? kernel.has(c.key) : (known[i] as boolean);
      added[i] = !ours;
      batch.write(ours ? 'replace' : 'add', c);
      kernel.set(c.key, c);
    }
    const outcome = await batch.end();
    // The other half's process died meanwhile: the kernel is being re-read anyway.
    if (this.kernel !== kernel) return -1;
    if (outcome.lost) {
      this.log.warn('route sync: netlink relay died before confirming a batch; re-reading the kernel', {
        netns: this.opts.netns,
        changes: remove.length + replace.length,
      });
      this.kernel = undefined;
      return -1;
    }
    return this.recordFailures(outcome, replace, remove, added);
  }

  /** Updates what we believe after refused changes, and reports them; returns how many there were. */
  private recordFailures(
    outcome: BatchOutcome,
    replace: readonly RouteCanon[],
    remove: readonly RouteCanon[],
    added: readonly boolean[],
  ): number {
    if (outcome.failures.length === 0) return 0;
    const kernel = this.kernel as Map<string, RouteCanon>;
    const refused: string[] = [];
    const foreign: string[] = [];
    for (const f of outcome.failures) {
      if (f.index < remove.length) {
        // Already gone is what we wanted.
        if (f.code === 'ESRCH') continue;
        const c = remove[f.index] as RouteCanon;
        kernel.set(c.key, unsure(c));
        refused.push(`${f.line}: ${f.message}`);
        continue;
      }
      const i = f.index - remove.length;
      const c = replace[i] as RouteCanon;
      if (!added[i]) {
        // A refused replace may have left our old route in place.
        kernel.set(c.key, unsure(c));
        refused.push(`${f.line}: ${f.message}`);
        continue;
      }
      // A refused add left nothing of ours.
      kernel.delete(c.key);
      if (f.code === 'EEXIST') foreign.push(c.key);
      else refused.push(`${f.line}: ${f.message}`);
    }
    if (foreign.length > 0) {
      this.log.warn(`route sync: ${foreign.length} desired route(s) not installed: a route we did not install (of another protocol, unless it appeared behind our back) holds the same table, destination and metric`, {
        netns: this.opts.netns,
        examples: foreign.slice(0, 5),
      });
    }
    if (refused.length > 0) {
      this.log.warn(`route sync: the kernel refused ${refused.length} route change(s); the next resync retries them`, {
        netns: this.opts.netns,
        examples: refused.slice(0, 5),
      });
    }
    return refused.length + foreign.length;
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
