/**
 * The GoBGP backend of BgpSpeaker. Desired state (global, peers, paths) is
 * held here; a reconcile pass compares it with gobgpd and sends only the
 * difference. A pass runs after every change, when the supervised daemon
 * comes back, when the best-path watch breaks, and periodically; a failed
 * pass is retried with backoff. A daemon that reports no ASN (GetBgp) has
 * been restarted, so everything is applied again from scratch. The global
 * export policy (only locally originated paths go out) is part of that state.
 *
 * Learned routes come from WatchEvent (BEST filter, init): the first report
 * after subscribing is a full dump, later ones are changes (see learned.ts).
 * After a daemon restart the routes learned before are kept, as stale, for
 * `restartGraceMs`, so the kernel keeps forwarding while sessions come back.
 */
import { formatCidr, formatIP, parseCidr, parseIP, TerraceError } from '@terrace/api';
import { Broadcast } from '../broadcast.js';
import { LearnedTable, sliceAtPrefix, type LearnedRoute } from '../learned.js';
import type {
  Announcement,
  BgpSpeaker,
  GlobalConfig,
  LearnedEvent,
  PeerConfig,
  PeerStatus,
  PeerType,
  SessionState,
} from '../speaker.js';
import { GobgpClient, type BestPathMessage, type BestPathWatch } from './client.js';
import { announcementKey, familyOf, fromApiPath, peerConfigMatches, peerKey, toApiGlobal, toApiPath, toApiPeer, type RawBestPath } from './convert.js';
import { GobgpDaemon, type GobgpDaemonOptions } from './daemon.js';
import { ensureExportPolicy } from './export-policy.js';
import { PeerState_SessionState, ResetPeerRequest_SoftResetDirection, TableType, type Peer } from '../gen/gobgp_pb.js';

export interface GobgpSpeakerOptions {
  /** Connect to a running gobgpd (a sidecar) at this gRPC address... */
  address?: string;
  /** ...or start and supervise one with these options. */
  daemon?: GobgpDaemonOptions;
  /** Keep routes learned before a daemon restart this long (ms, default 30000). */
  restartGraceMs?: number;
  /** Periodic reconcile interval (ms, default 10000). */
  resyncMs?: number;
  /** Retry backoff for failed passes (ms, default 200 → 5000). */
  minRetryMs?: number;
  maxRetryMs?: number;
  /** Parallel AddPath/DeletePath calls per pass (default 32). */
  pathConcurrency?: number;
  /**
   * Best-path messages in one event-loop turn above which a bulk load is
   * assumed and the watch is replaced by one dump once the table settles
   * (default 128; 0 never does that).
   */
  bulkThreshold?: number;
  /** Paths per slice when applying an initial dump (default 5000). */
  dumpSlice?: number;
  /** GetTable poll interval while a bulk load settles (ms, default 50). */
  bulkPollMs?: number;
  onError?: (err: Error) => void;
}

interface AppliedPath {
  key: string;
  announcement: Announcement;
}

const SESSION_STATES: Record<number, SessionState> = {
  [PeerState_SessionState.UNKNOWN]: 'unknown',
  [PeerState_SessionState.IDLE]: 'idle',
  [PeerState_SessionState.CONNECT]: 'connect',
  [PeerState_SessionState.ACTIVE]: 'active',
  [PeerState_SessionState.OPENSENT]: 'opensent',
  [PeerState_SessionState.OPENCONFIRM]: 'openconfirm',
  [PeerState_SessionState.ESTABLISHED]: 'established',
};

function uniqueBy<T>(items: readonly T[], key: (t: T) => string, what: string): Map<string, T> {
  const m = new Map<string, T>();
  for (const i of items) {
    const k = key(i);
    if (m.has(k)) throw new TerraceError('Invalid', `${what} ${k}: listed twice in the desired set`);
    m.set(k, i);
  }
  return m;
}

async function inParallel<T>(items: readonly T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = items[next] as T;
      next += 1;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export class GobgpSpeaker implements BgpSpeaker {
  readonly client: GobgpClient;
  readonly daemon: GobgpDaemon | undefined;
  private readonly opts: GobgpSpeakerOptions;

  private global: GlobalConfig | undefined;
  private peers = new Map<string, PeerConfig>();
  private paths = new Map<string, Announcement>();

  /** What gobgpd holds, as far as we applied it since its last (re)start. */
  private appliedGlobal: string | undefined;
  private appliedPeers = new Map<string, string>();
  private appliedPaths = new Map<string, AppliedPath>();
  /** BGP was started at least once: a later "not started" means gobgpd restarted. */
  private everStarted = false;
  private restartedSinceWatch = false;
  /** The export policy changed under established sessions; they have not been refreshed yet. */
  private softResetOutPending = false;

  private readonly table = new LearnedTable();
  private readonly events = new Broadcast<readonly LearnedEvent[]>();

  private passRunning: Promise<void> | undefined;
  private passQueued: Promise<void> | undefined;
  private synced = false;
  private retryMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private watch: BestPathWatch | undefined;
  private watchLoop: Promise<void> | undefined;
  private stopped = false;

  constructor(opts: GobgpSpeakerOptions) {
    if (!opts.address === !opts.daemon) {
      throw new TerraceError('Invalid', 'gobgp speaker: give exactly one of address (sidecar) or daemon (supervised)');
    }
    this.opts = opts;
    this.retryMs = opts.minRetryMs ?? 200;
    if (opts.daemon) {
      this.daemon = new GobgpDaemon(opts.daemon);
      this.daemon.on('up', () => void this.reconcile().catch(() => undefined));
      this.daemon.on('error', (e) => this.report(e));
    }
    this.client = new GobgpClient(this.daemon?.address ?? (opts.address as string));
  }

  async start(global: GlobalConfig): Promise<void> {
    if (this.stopped) throw new TerraceError('Invalid', 'gobgp speaker: start after stop');
    toApiGlobal(global);
    this.global = global;
    if (this.daemon && this.daemon.pid === undefined) await this.daemon.start();
    else await this.client.waitReady(15000);
    if (!this.resyncTimer) {
      this.resyncTimer = setInterval(() => void this.reconcile().catch(() => undefined), this.opts.resyncMs ?? 10000);
      this.resyncTimer.unref();
    }
    // The watch subscribes once BGP runs; it also survives a failed first pass.
    this.watchLoop ??= this.runWatch();
    await this.reconcile();
  }

  async setPeers(peers: readonly PeerConfig[]): Promise<void> {
    const m = uniqueBy(peers, (p) => formatIP(p.address), 'bgp peer');
    for (const p of m.values()) toApiPeer(p); // validates before anything changes
    this.peers = m;
    if (this.global) await this.reconcile();
  }

  async setAnnouncements(paths: readonly Announcement[]): Promise<void> {
    const m = uniqueBy(paths, (a) => formatCidr(a.prefix), 'announcement');
    for (const a of m.values()) toApiPath(a);
    this.paths = m;
    if (this.global) await this.reconcile();
  }

  learned(): AsyncIterable<readonly LearnedEvent[]> {
    const now = this.table.currentEvents();
    return this.events.subscribe(now.length > 0 ? [now] : []);
  }

  learnedSnapshot(): ReadonlyMap<string, LearnedRoute> {
    return this.table.snapshot();
  }

  inSync(): boolean {
    return this.synced && !this.passQueued;
  }

  async peerStatus(): Promise<PeerStatus[]> {
    const res = await this.client.list('listPeer', { enableAdvertised: true });
    return res.flatMap((r) => (r.peer ? [this.toStatus(r.peer)] : []));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of [this.retryTimer, this.sweepTimer]) if (t) clearTimeout(t);
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.watch?.cancel();
    await this.passRunning?.catch(() => undefined);
    await this.watchLoop?.catch(() => undefined);
    this.events.close();
    this.client.close();
    await this.daemon?.stop();
  }

  /**
   * Runs a reconcile pass; concurrent callers share the next pass, so a burst
   * of changes costs at most one extra pass. Rejects if that pass failed
   * (it is then retried in the background).
   */
  reconcile(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.passQueued) return this.passQueued;
    if (!this.passRunning) {
      this.passRunning = this.runPass().finally(() => {
        this.passRunning = undefined;
      });
      return this.passRunning;
    }
    const queued = this.passRunning
      .catch(() => undefined)
      .then(() => {
        this.passQueued = undefined;
        return this.reconcile();
      });
    this.passQueued = queued;
    return queued;
  }

  private async runPass(): Promise<void> {
    this.synced = false;
    try {
      await this.applyOnce();
      this.synced = true;
      this.retryMs = this.opts.minRetryMs ?? 200;
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      this.report(err);
      this.scheduleRetry();
      throw err;
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.stopped) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, this.opts.maxRetryMs ?? 5000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.reconcile().catch(() => undefined);
    }, delay);
  }

  private report(e: Error): void {
    this.opts.onError?.(e);
  }

  private async applyOnce(): Promise<void> {
    const global = this.global;
    if (!global) return;
    const want = JSON.stringify(toApiGlobal(global));
    const cur = (await this.client.unary('getBgp', {})).global;
    if (!cur || cur.asn === 0) {
      // A fresh gobgpd: nothing we applied before exists any more.
      this.appliedPeers.clear();
      this.appliedPaths.clear();
      this.appliedGlobal = undefined;
      if (this.everStarted) {
        // A watch opened before this pass saw no initial dump: open a new one.
        this.restartedSinceWatch = true;
        this.watch?.cancel();
      }
    } else if (this.appliedGlobal !== undefined && this.appliedGlobal !== want) {
      // ASN, router id or port changed: BGP must be restarted to take them.
      await this.client.unary('stopBgp', {});
      this.appliedPeers.clear();
      this.appliedPaths.clear();
      this.appliedGlobal = undefined;
    } else if (this.appliedGlobal === undefined) {
      // Running but started by someone else (a sidecar that outlived us): adopt it as is.
      this.appliedGlobal = want;
      await this.adoptLocalPaths();
    }
    let startedNow = false;
    if (this.appliedGlobal === undefined) {
      await this.client.unary('startBgp', { global: toApiGlobal(global) });
      this.appliedGlobal = want;
      this.everStarted = true;
      startedNow = true;
    }
    await this.applyExportPolicy(startedNow);
    await this.applyPeers();
    await this.applyPaths();
  }

  /**
   * Takes over the paths a previous agent originated on a daemon we adopt, so
   * that applyPaths withdraws those no longer desired (a block released while
   * the agent was down) instead of leaving them announced for ever. Desired
   * ones are re-added, which gobgpd treats as the same path.
   */
  private async adoptLocalPaths(): Promise<void> {
    for (const v of [4, 6] as const) {
      for (const r of await this.client.list('listPath', { tableType: TableType.GLOBAL, family: familyOf(v) })) {
        for (const p of r.destination?.paths ?? []) {
          const raw = fromApiPath(p);
          if (!raw || !raw.local || this.appliedPaths.has(raw.prefix)) continue;
          const announcement: Announcement = { prefix: parseCidr(raw.prefix), nextHop: parseIP(raw.nextHop) };
          // An empty key never equals a desired one: a desired prefix is re-added, not skipped.
          this.appliedPaths.set(formatCidr(announcement.prefix), { key: '', announcement });
        }
      }
    }
  }

  private async applyPeers(): Promise<void> {
    const actual = new Set<string>();
    const listed = new Map<string, Peer>();
    for (const r of await this.client.list('listPeer', {})) {
      const a = r.peer?.conf?.neighborAddress;
      if (a && r.peer) {
        actual.add(a);
        listed.set(a, r.peer);
      }
    }
    for (const addr of actual) {
      if (this.peers.has(addr)) continue;
      await this.client.unary('deletePeer', { address: addr });
      this.appliedPeers.delete(addr);
    }
    for (const [addr, p] of this.peers) {
      const key = peerKey(p);
      if (!actual.has(addr)) {
        await this.client.unary('addPeer', { peer: toApiPeer(p) });
      } else if (!this.appliedPeers.has(addr) && peerConfigMatches(p, listed.get(addr))) {
        // A session of a daemon we adopted (it outlived the previous agent)
        // that is already configured as we want it: UpdatePeer would reset
        // an established session for nothing.
      } else if (this.appliedPeers.get(addr) !== key) {
        await this.client.unary('updatePeer', { peer: toApiPeer(p), doSoftResetIn: true });
      }
      this.appliedPeers.set(addr, key);
    }
  }

  /**
   * Announce only what we originate (export-policy.ts). StartBgp clears
   * gobgpd's policies, so this runs after it and before any peer exists.
   * When the policy had to change on a daemon whose sessions were already up
   * (one we adopted, or one edited behind our back), a soft reset out sends
   * each established peer what the policy now accepts: gobgpd applies a new
   * policy only to later changes, so our own paths that an older policy held
   * back would otherwise never go out. (gobgpd 3.10's soft reset out does not
   * withdraw what the policy now rejects; such leftovers of an older agent go
   * when their prefix is withdrawn at its source or the session restarts.
   * Resetting sessions to clear them sooner would cut the node's own routes.)
   */
  private async applyExportPolicy(startedNow: boolean): Promise<void> {
    const changed = await ensureExportPolicy(this.client);
    // Remembered until it succeeds: the next pass finds the policy in place.
    if (startedNow) this.softResetOutPending = false;
    else if (changed) this.softResetOutPending = true;
    if (!this.softResetOutPending) return;
    await this.client.unary('resetPeer', { address: 'all', soft: true, direction: ResetPeerRequest_SoftResetDirection.OUT });
    this.softResetOutPending = false;
  }

  private async applyPaths(): Promise<void> {
    const limit = this.opts.pathConcurrency ?? 32;
    const removals = [...this.appliedPaths].filter(([k]) => !this.paths.has(k));
    await inParallel(removals, limit, async ([k, ap]) => {
      await this.client.unary('deletePath', {
        tableType: TableType.GLOBAL,
        family: toApiPath(ap.announcement).family,
        path: toApiPath(ap.announcement, true),
      });
      this.appliedPaths.delete(k);
    });
    const adds = [...this.paths].filter(([k, a]) => this.appliedPaths.get(k)?.key !== announcementKey(a));
    await inParallel(adds, limit, async ([k, a]) => {
      // A new path for a prefix we already announce replaces the old one (implicit withdraw).
      await this.client.unary('addPath', { tableType: TableType.GLOBAL, path: toApiPath(a) });
      this.appliedPaths.set(k, { key: announcementKey(a), announcement: a });
    });
  }

  private async runWatch(): Promise<void> {
    let backoff = this.opts.minRetryMs ?? 200;
    while (!this.stopped) {
      if (this.appliedGlobal === undefined) {
        // BGP is not running (yet, or again): a WatchEvent now would miss the initial dump.
        if (this.passRunning) {
          await this.passRunning.catch(() => undefined);
        } else {
          await new Promise((r) => setTimeout(r, backoff));
          backoff = Math.min(backoff * 2, this.opts.maxRetryMs ?? 5000);
          await this.reconcile().catch(() => undefined);
        }
        continue;
      }
      const keepMissing = this.restartedSinceWatch;
      this.restartedSinceWatch = false;
      try {
        const again = await this.watchOnce(keepMissing);
        backoff = this.opts.minRetryMs ?? 200;
        if (again) continue; // a bulk load has settled: take its dump now
      } catch (e) {
        if (!this.stopped) this.report(e instanceof Error ? e : new Error(String(e)));
      }
      if (this.stopped) return;
      // The stream ended: gobgpd restarted or the channel broke. Bring the
      // daemon back to the desired state before subscribing again.
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, this.opts.maxRetryMs ?? 5000);
      await this.reconcile().catch(() => undefined);
    }
  }

  /**
   * One subscription: the first table message is a full dump; later ones are
   * changes. Messages arriving in one turn of the event loop are published as
   * one batch (each message is still folded on its own: it is the complete new
   * state of the prefixes it names, and a later message may shrink it again).
   *
   * Bulk loads: gobgpd hands every best-path change to each watcher through an
   * unbuffered channel from its main loop, one message per prefix, so a
   * watcher slows the table load itself several times over (measured: 20,000
   * prefixes in 0.5 s without a watcher, 4 s with one). When a turn brings
   * more than `bulkThreshold` messages, the watch is dropped, the table is left
   * to load at full speed (GetTable polled until its path count holds still),
   * and a new subscription's initial dump, one message, brings the result.
   * Resolves with true when it ended for a bulk load (subscribe again at once).
   */
  private async watchOnce(keepMissing: boolean): Promise<boolean> {
    let first = true;
    let pending: LearnedEvent[] = [];
    let inTurn = 0;
    let scheduled = false;
    let bulk = false;
    const threshold = this.opts.bulkThreshold ?? 128;
    const flush = (): void => {
      scheduled = false;
      inTurn = 0;
      if (pending.length === 0) return;
      const out = pending;
      pending = [];
      this.events.publish(out);
    };
    // Messages wait here while a dump is being applied slice by slice.
    const queue: BestPathMessage[] = [];
    let running = false;
    let draining: Promise<void> = Promise.resolve();
    const handle = (m: BestPathMessage): void => {
      for (const e of this.table.apply(m.paths)) pending.push(e);
      inTurn += 1;
      if (inTurn > threshold && threshold > 0 && !bulk) {
        bulk = true;
        watch.cancel();
      }
      if (!scheduled && pending.length > 0) {
        scheduled = true;
        setImmediate(flush);
      }
    };
    const drain = async (): Promise<void> => {
      running = true;
      while (queue.length > 0 && !this.stopped) {
        const m = queue.shift() as BestPathMessage;
        if (first) {
          first = false;
          await this.applyDump(m.paths, keepMissing);
        } else if (!bulk) {
          handle(m);
        }
      }
      running = false;
    };
    const watch = this.client.watchBestPaths(true, (m) => {
      if (!m.table || bulk) return;
      queue.push(m);
      // Runs synchronously up to the first slice boundary of a dump.
      if (!running) draining = drain();
    });
    this.watch = watch;
    try {
      await watch.done;
    } finally {
      await draining;
      flush();
    }
    if (!bulk || this.stopped) return false;
    await this.waitTableSettled();
    return true;
  }

  /**
   * Applies an initial dump in slices, publishing each and yielding to the
   * event loop in between, so the consumer's kernel writes (another process)
   * overlap the rest of the dump.
   */
  private async applyDump(paths: readonly RawBestPath[], keepMissing: boolean): Promise<void> {
    const gone = this.table.dropMissing(paths, keepMissing);
    if (gone.length > 0) this.events.publish(gone);
    const slice = this.opts.dumpSlice ?? 5000;
    for (let i = 0; i < paths.length; ) {
      const end = sliceAtPrefix(paths, i, slice);
      const out = this.table.apply(paths.slice(i, end));
      if (out.length > 0) this.events.publish(out);
      i = end;
      if (i < paths.length) await new Promise((r) => setImmediate(r));
    }
    if (keepMissing && this.table.staleCount > 0) this.scheduleSweep();
  }

  /** Polls the global table's path count until it stops changing. */
  private async waitTableSettled(): Promise<void> {
    const every = this.opts.bulkPollMs ?? 50;
    let last = -1;
    for (let i = 0; i < 6000 && !this.stopped; i++) {
      let n = 0;
      for (const v of [4, 6] as const) {
        const t = await this.client.unary('getTable', { tableType: TableType.GLOBAL, family: familyOf(v) });
        n += Number(t.numPath);
      }
      if (n === last) return;
      last = n;
      await new Promise((r) => setTimeout(r, every));
    }
  }

  private scheduleSweep(): void {
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = undefined;
      const out = this.table.sweepStale();
      if (out.length > 0) this.events.publish(out);
    }, this.opts.restartGraceMs ?? 30000);
  }

  private toStatus(p: Peer): PeerStatus {
    const address = p.conf?.neighborAddress ?? p.state?.neighborAddress ?? '';
    const desired = this.peers.get(address);
    const st = p.state;
    const state = SESSION_STATES[st?.sessionState ?? 0] ?? 'unknown';
    const ts = state === 'established' ? p.timers?.state?.uptime : p.timers?.state?.downtime;
    const since = ts && ts.seconds > 0n ? new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6)) : undefined;
    let received = 0;
    let accepted = 0;
    let advertised = 0;
    for (const af of p.afiSafis) {
      received += Number(af.state?.received ?? 0n);
      accepted += Number(af.state?.accepted ?? 0n);
      advertised += Number(af.state?.advertised ?? 0n);
    }
    const type: PeerType | undefined = desired?.type;
    const label = state === 'established' ? 'Established' : state.charAt(0).toUpperCase() + state.slice(1);
    return {
      address,
      asn: p.conf?.peerAsn ?? st?.peerAsn ?? 0,
      type,
      description: p.conf?.description ?? '',
      state,
      since,
      prefixesReceived: received,
      prefixesAccepted: accepted,
      prefixesAdvertised: advertised,
      info: st?.adminState === 1 ? `${label} (admin down)` : label,
    };
  }
}
