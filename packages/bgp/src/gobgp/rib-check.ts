/**
 * Checks the BMP station's selection (bmp/rib.ts, which mirrors gobgpd 3.10's
 * decision process) against gobgpd's own best paths, and follows gobgpd
 * where they differ: gobgpd decides what it advertises and what its peers
 * expect us to forward on, so its answer is the one to install.
 *
 * Cheap checks run every `checkMs` while the RIB is quiet: destination
 * counts per family (GetTable) and a random sample of prefixes looked up
 * exactly (ListPath). A full comparison (the whole global table) runs once
 * the RIB has been quiet for `idleMs` after changing, at most every
 * `fullGapMs`, so also once the first table is in; a cheap check that does
 * not match asks for one. Nothing is checked while the feed is down or paths
 * are stale (they are expected to differ then).
 *
 * A difference is trusted only if it is still there `confirmMs` later with no
 * change to the RIB in between (an UPDATE can reach gobgpd's table and our
 * feed at different moments). Confirmed prefixes then follow gobgpd (the RIB
 * pins its best next hop, or none, until the prefix changes again); a prefix
 * gobgpd has and we hold no path for at all is repaired by reading the feed
 * again (gobgpd sends its whole table on a new connection), once per set of
 * such prefixes. The first difference is reported through `onError`; later
 * ones only in the status (ribCheck()).
 */
import { formatAddr, formatIP, formatPrefix, monotonicMs, packCidr, packIP, parseCidr, parseIP, TerraceError, type PackedAddr, type PackedPrefix } from '@terrace/api';
import type { AdjRibIn } from '../bmp/rib.js';
import type { LearnedEvent, RibCheckStatus } from '../speaker.js';
import type { GobgpClient } from './client.js';
import { familyOf, fromApiPath } from './convert.js';
import { TableLookupPrefix_Type, TableType, type Destination } from '../gen/gobgp_pb.js';

export interface RibCheckOptions {
  /** Cheap checks this often (ms, default 30000). */
  checkMs?: number;
  /** The RIB counts as quiet this long after its last change (ms, default 5000). */
  idleMs?: number;
  /**
   * Full comparisons at most this often (ms, default 600000). One costs what
   * listing gobgpd's table costs: at 100,000 prefixes about 4 s of our CPU
   * (one gRPC message per prefix) and 8-10 s in all.
   */
  fullGapMs?: number;
  /** How long a difference must last to be trusted (ms, default 1000). */
  confirmMs?: number;
  /** Prefixes in a cheap check's sample (default 16). */
  sampleSize?: number;
}

export interface RibCheckDeps {
  client: GobgpClient;
  rib: () => AdjRibIn | undefined;
  /** Whether the BMP feed is connected (its paths are current). */
  feedUp: () => boolean;
  publish: (events: LearnedEvent[]) => void;
  resetFeed: () => void;
  report: (err: Error) => void;
}

/** gobgpd's view of one prefix: its best path's next hop, `local` (ours), or undefined (no route). */
export type DaemonBest = string | 'local' | undefined;

export interface Difference {
  prefix: string;
  station: string | undefined;
  gobgpd: string | undefined;
}

/**
 * Pure: the prefixes among `keys` where our best next hop is not gobgpd's.
 * Our own prefixes (`ours`, or gobgpd's best is local) are never learned
 * routes, so they are skipped.
 */
export function differences(
  keys: Iterable<string>,
  station: (key: string) => string | undefined,
  daemon: ReadonlyMap<string, DaemonBest>,
  ours: (key: string) => boolean = () => false,
): Difference[] {
  const out: Difference[] = [];
  for (const key of keys) {
    const g = daemon.get(key);
    if (g === 'local' || ours(key)) continue;
    const s = station(key);
    if (s !== g) out.push({ prefix: key, station: s, gobgpd: g });
  }
  return out;
}

export function describeDifference(d: Difference): string {
  return `${d.prefix}: station says ${d.station ?? 'no route'}, gobgpd says ${d.gobgpd ?? 'no route'}`;
}

/** A prefix as formatCidr prints it, packed: this check speaks gobgpd's text and the RIB's values. */
function packed(key: string): PackedPrefix {
  return packCidr(parseCidr(key));
}

/** The RIB's best next hop for a prefix given as text, as text. */
function stationBest(rib: AdjRibIn, key: string): string | undefined {
  const h = rib.bestHop(packed(key));
  return h === undefined ? undefined : formatAddr(h);
}

const KEY = /^([^/]+)\/(\d+)$/;

/** A destination's prefix as formatCidr prints it, and gobgpd's best path for it. */
function readDestination(d: Destination): [string, DaemonBest] | undefined {
  const m = KEY.exec(d.prefix);
  if (!m) return undefined;
  let key: string;
  try {
    key = `${formatIP(parseIP(m[1] as string))}/${m[2]}`;
  } catch {
    return undefined;
  }
  // No path marked best: gobgpd selects none (e.g. an unusable next hop).
  const best = d.paths.find((p) => p.best);
  const raw = best && fromApiPath(best);
  if (!raw) return [key, undefined];
  if (raw.local) return [key, 'local'];
  return [key, formatIP(parseIP(raw.nextHop))];
}

export class RibChecker {
  private readonly deps: RibCheckDeps;
  private readonly checkMs: number;
  private readonly idleMs: number;
  private readonly fullGapMs: number;
  private readonly confirmMs: number;
  private readonly sampleSize: number;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private seenChanges = -1;
  private lastChangeAt = 0;
  /** changeCount at the last full comparison (-1: one is due). */
  private fullAtChanges = -1;
  private lastFullAt = 0;
  /** Monotonic, as every time the schedule compares: a wall clock set back would pause the checks for as long as the step. */
  private lastCheckAt = Number.NEGATIVE_INFINITY;
  private checkedAt: Date | undefined;
  private readonly divergedKeys = new Set<string>();
  private example: string | undefined;
  private reported = false;
  /** Prefixes missing from our RIB that a feed reset was asked for already. */
  private resetFor = '';

  constructor(deps: RibCheckDeps, opts: RibCheckOptions = {}) {
    this.deps = deps;
    this.checkMs = opts.checkMs ?? 30000;
    this.idleMs = opts.idleMs ?? 5000;
    this.fullGapMs = opts.fullGapMs ?? 600000;
    this.confirmMs = opts.confirmMs ?? 1000;
    this.sampleSize = opts.sampleSize ?? 16;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), Math.max(50, Math.min(this.idleMs, this.checkMs) / 2));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  status(): RibCheckStatus {
    const diverged = this.divergedKeys.size;
    return {
      state: diverged > 0 ? 'diverged' : this.checkedAt ? 'ok' : 'unchecked',
      checkedAt: this.checkedAt,
      diverged,
      example: this.example,
    };
  }

  /** One step of the schedule: notes RIB changes and runs the check that is due, if any. */
  async tick(): Promise<void> {
    const rib = this.deps.rib();
    if (!rib || this.running || !this.timer) return;
    const now = monotonicMs();
    if (rib.changeCount !== this.seenChanges) {
      this.seenChanges = rib.changeCount;
      this.lastChangeAt = now;
      return;
    }
    if (now - this.lastChangeAt < this.idleMs || !this.deps.feedUp() || rib.staleCount > 0) return;
    const fullDue = rib.changeCount !== this.fullAtChanges && (this.lastFullAt === 0 || now - this.lastFullAt >= this.fullGapMs);
    if (!fullDue && now - this.lastCheckAt < this.checkMs) return;
    this.running = true;
    try {
      if (fullDue) await this.full(rib);
      else await this.cheap(rib);
    } catch {
      // gobgpd unreachable or restarting: the reconciler reports that; try again later.
      this.lastCheckAt = monotonicMs();
    } finally {
      this.running = false;
    }
  }

  /** Counts per family and a sample; a mismatch asks for a full comparison. */
  private async cheap(rib: AdjRibIn): Promise<void> {
    const before = rib.changeCount;
    const counts = rib.destinationCounts();
    let mismatch = false;
    for (const v of [4, 6] as const) {
      const t = await this.deps.client.unary('getTable', { tableType: TableType.GLOBAL, family: familyOf(v) });
      if (Number(t.numDestination) !== (v === 4 ? counts.v4 : counts.v6)) mismatch = true;
    }
    const sample = rib.sample(this.sampleSize).map(formatPrefix);
    const found = differences(sample, (k) => stationBest(rib, k), await this.lookup(sample), (k) => rib.isLocal(packed(k)));
    this.lastCheckAt = monotonicMs();
    if (rib.changeCount !== before) return;
    this.checkedAt = new Date();
    if (found.length > 0) await this.settle(rib, found, before);
    // Counts differ (or the sample did): compare everything when next allowed.
    if (mismatch || found.length > 0) this.fullAtChanges = -1;
  }

  /** gobgpd's whole global table against ours. */
  private async full(rib: AdjRibIn): Promise<void> {
    const before = rib.changeCount;
    const daemon = new Map<string, DaemonBest>();
    for (const v of [4, 6] as const) {
      for (const r of await this.deps.client.list('listPath', { tableType: TableType.GLOBAL, family: familyOf(v) })) {
        const d = r.destination && readDestination(r.destination);
        if (d) daemon.set(d[0], d[1]);
      }
    }
    const now = monotonicMs();
    this.lastFullAt = now;
    this.lastCheckAt = now;
    if (rib.changeCount !== before) return; // changed meanwhile: again when quiet
    const keys = new Set(daemon.keys());
    for (const k of rib.snapshot().keys()) keys.add(formatPrefix(k));
    const found = differences(keys, (k) => stationBest(rib, k), daemon, (k) => rib.isLocal(packed(k)));
    this.fullAtChanges = rib.changeCount;
    this.checkedAt = new Date();
    if (found.length > 0) await this.settle(rib, found, before);
  }

  /** gobgpd's best paths for these prefixes (exact lookups). */
  private async lookup(keys: readonly string[]): Promise<Map<string, DaemonBest>> {
    const out = new Map<string, DaemonBest>();
    for (const v of [4, 6] as const) {
      const mine = keys.filter((k) => (v === 6) === k.includes(':'));
      // An empty prefix list would list the whole table.
      if (mine.length === 0) continue;
      const prefixes = mine.map((prefix) => ({ prefix, type: TableLookupPrefix_Type.EXACT }));
      for (const r of await this.deps.client.list('listPath', { tableType: TableType.GLOBAL, family: familyOf(v), prefixes })) {
        const d = r.destination && readDestination(r.destination);
        if (d) out.set(d[0], d[1]);
      }
    }
    return out;
  }

  /** Confirms differences after confirmMs and makes the confirmed ones follow gobgpd. */
  private async settle(rib: AdjRibIn, found: Difference[], before: number): Promise<void> {
    await new Promise((r) => setTimeout(r, this.confirmMs).unref());
    if (rib.changeCount !== before || this.deps.rib() !== rib) return;
    const keys = found.map((d) => d.prefix);
    const confirmed = differences(keys, (k) => stationBest(rib, k), await this.lookup(keys), (k) => rib.isLocal(packed(k)));
    if (rib.changeCount !== before || confirmed.length === 0) return;
    const events: LearnedEvent[] = [];
    const missing: string[] = [];
    for (const d of confirmed) {
      this.divergedKeys.add(d.prefix);
      const key = packed(d.prefix);
      if (!rib.has(key)) {
        missing.push(d.prefix);
        continue;
      }
      const hop: PackedAddr | undefined = d.gobgpd === undefined ? undefined : packIP(parseIP(d.gobgpd));
      for (const e of rib.correct(key, hop)) events.push(e);
    }
    this.example ??= describeDifference(confirmed[0] as Difference);
    if (!this.reported) {
      this.reported = true;
      this.deps.report(
        new TerraceError(
          'Internal',
          `bgp rib check: our selection differs from gobgpd's best paths for ${confirmed.length} prefix${confirmed.length === 1 ? '' : 'es'} ` +
            `(e.g. ${describeDifference(confirmed[0] as Difference)}); following gobgpd for them (told once; see node status)`,
        ),
      );
    }
    if (events.length > 0) this.deps.publish(events);
    const missingKey = missing.sort().join(' ');
    if (missing.length > 0 && missingKey !== this.resetFor) {
      this.resetFor = missingKey;
      this.deps.resetFeed();
    }
  }
}
