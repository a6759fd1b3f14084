/**
 * The GoBGP backend of BgpSpeaker. Desired state (global, peers, paths) is
 * held here; a reconcile pass compares it with what gobgpd lists (peers, our
 * local paths, BMP stations, policies) and sends only the difference. A pass
 * runs after every change, periodically, and at once on a sign that gobgpd
 * restarted (our BMP feed closed, the gRPC channel connected again, the
 * supervised daemon back up); a failed pass is retried with backoff. A
 * daemon that reports no ASN (GetBgp) has been restarted, so everything is
 * applied again from scratch. The global export policy (only locally
 * originated paths go out) and our BMP station are part of that state.
 *
 * Learned routes come from gobgpd over BMP (../bmp/station.ts): every UPDATE
 * each peer sends, as received, into our Adj-RIB-In, whose decision process
 * mirrors gobgpd's (best path, multipath). After the feed breaks (gobgpd
 * restarted) the routes learned before are kept, as stale, until refreshed,
 * dropped by the End-of-RIB that follows each peer's table in gobgpd's dump on
 * a new connection, or `restartGraceMs` ends, so the kernel keeps forwarding
 * while sessions come back.
 */
import { formatCidr, formatIP, packCidr, parseCidr, parseIP, TerraceError, type PackedPrefix } from '@terrace/api';
import { Broadcast } from '../broadcast.js';
import { AdjRibIn } from '../bmp/rib.js';
import { BmpStation, DEFAULT_STALE_GRACE_MS } from '../bmp/station.js';
import type {
  Announcement,
  BgpSpeaker,
  GlobalConfig,
  LearnedEvent,
  LearnedHops,
  PeerConfig,
  PeerStatus,
  PeerType,
  RibCheckStatus,
  SessionState,
} from '../speaker.js';
import { RibChecker, type RibCheckOptions } from './rib-check.js';
import { GobgpBfd, bfdPeersOf } from './bfd.js';
import { checkBfdPeers, type BfdChange } from '../bfd/manager.js';
import { GobgpClient } from './client.js';
import { announcementKey, familyOf, fromApiPath, ownPathKey, peerConfigMatches, peerKey, routeReflectorChanged, toApiGlobal, toApiPath, toApiPeer } from './convert.js';
import { GobgpDaemon, type GobgpDaemonOptions } from './daemon.js';
import { ensureExportPolicy } from './export-policy.js';
import { PassLoop } from '../passes.js';
import { peerSets } from './peer-sets.js';
import { defineExportFilters, ensureImportPolicy, pruneExportFilters } from './session-policy.js';
import { definePassPolicy, prunePassPolicies } from './pass-policy.js';
import { exportLetsOut, rulesText, type PolicyRule } from '../policy.js';
import {
  AddBmpRequest_MonitoringPolicy,
  PeerState_AdminState,
  PeerState_SessionState,
  ResetPeerRequest_SoftResetDirection,
  TableLookupPrefix_Type,
  TableType,
  type Peer,
} from '../gen/gobgp_pb.js';

export interface GobgpSpeakerOptions {
  /** Connect to a running gobgpd (a sidecar) at this gRPC address... */
  address?: string;
  /** ...or start and supervise one with these options. */
  daemon?: GobgpDaemonOptions;
  /**
   * The named network namespace gobgpd runs in, when it is not ours (our BMP
   * station's socket is opened there); default: the supervised daemon's netns.
   */
  netns?: string;
  /** Keep routes learned before the feed broke (gobgpd restart) this long (ms, default DEFAULT_STALE_GRACE_MS). */
  restartGraceMs?: number;
  /**
   * Address gobgpd dials to reach our BMP station (default 127.0.0.1: gobgpd
   * shares our network namespace, or, supervised in a named one, gets the
   * socket opened there). Only on 127.0.0.1 does the station check that the
   * connection is our supervised gobgpd's.
   */
  stationHost?: string;
  /**
   * Periodic reconcile interval (ms, default 10000): the longest a path of
   * ours deleted inside a running gobgpd stays missing.
   */
  resyncMs?: number;
  /** Retry backoff for failed passes (ms, default 200 → 5000). */
  minRetryMs?: number;
  maxRetryMs?: number;
  /** Parallel AddPath/DeletePath calls per pass (default 32). */
  pathConcurrency?: number;
  /** Timing of the check of our selection against gobgpd's best paths (./rib-check.ts); false: none. */
  ribCheck?: RibCheckOptions | false;
  onError?: (err: Error) => void;
  /** Every BFD state change of a peer's session, as it happens (the BGP peer's disable or enable is queued then). */
  onBfd?: (c: BfdChange) => void;
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
  readonly backend = 'gobgp';
  /** gobgpd has no zebra here: the agent writes learned routes (route sync). */
  readonly writesKernelRoutes = false;
  /** gobgpd has no BFD: we run the sessions and disable the BGP peer while its session is down (./bfd.ts). */
  readonly supportsBfd = true;
  readonly client: GobgpClient;
  readonly daemon: GobgpDaemon | undefined;
  private readonly opts: GobgpSpeakerOptions;

  private global: GlobalConfig | undefined;
  private peers = new Map<string, PeerConfig>();
  private paths = new Map<string, Announcement>();

  /** What gobgpd holds, as far as we applied it since its last (re)start. */
  private appliedGlobal: string | undefined;
  private appliedPeers = new Map<string, string>();
  /**
   * Prefixes gobgpd may hold a path of ours for (added, adopted, not yet seen
   * gone): with the desired ones, what each pass looks up in gobgpd's table.
   */
  private announced = new Set<string>();
  /** BGP was started at least once: a later "not started" means gobgpd restarted. */
  private everStarted = false;
  /** gobgpd restarted and the peers are being added to the new one (graceful restart's restarting side). */
  private restartedDaemon = false;
  /** The export policy changed under established sessions; they have not been refreshed yet. */
  private softResetOutPending = false;
  /** The import policy changed under established sessions; gobgpd has not re-run its Adj-RIB-In yet. */
  private softResetInPending = false;
  /** Import rules by peer address, as the RIB applies them, and their text (to see a change). */
  private importRules: ReadonlyMap<string, readonly PolicyRule[]> = new Map();
  private importKey = '';
  /** Export rules by peer address as last applied to gobgpd (and their text, to see a change). */
  private appliedExport = new Map<string, { text: string; rules: readonly PolicyRule[] }>();

  /** Every peer's paths and the selection from them; replaced when our ASN or router id changes. */
  private rib: AdjRibIn | undefined;
  private ribKey = '';
  private station: BmpStation | undefined;
  private readonly events = new Broadcast<readonly LearnedEvent[]>();

  private resyncTimer: NodeJS.Timeout | undefined;
  private unwatchChannel: (() => void) | undefined;
  private checker: RibChecker | undefined;
  private readonly bfd: GobgpBfd;
  private stopped = false;
  private readonly passes: PassLoop;

  constructor(opts: GobgpSpeakerOptions) {
    if (!opts.address === !opts.daemon) {
      throw new TerraceError('Invalid', 'gobgp speaker: give exactly one of address (sidecar) or daemon (supervised)');
    }
    this.opts = opts;
    this.passes = new PassLoop({
      apply: () => this.applyOnce(),
      report: (e) => this.report(e),
      ...(opts.minRetryMs !== undefined ? { minRetryMs: opts.minRetryMs } : {}),
      ...(opts.maxRetryMs !== undefined ? { maxRetryMs: opts.maxRetryMs } : {}),
    });
    if (opts.daemon) {
      this.daemon = new GobgpDaemon(opts.daemon);
      this.daemon.on('up', () => void this.reconcile().catch(() => undefined));
      this.daemon.on('error', (e) => this.report(e));
    }
    this.client = new GobgpClient(this.daemon?.address ?? (opts.address as string));
    const netns = opts.netns ?? opts.daemon?.netns;
    this.bfd = new GobgpBfd({
      client: this.client,
      ...(netns ? { netns } : {}),
      report: (e) => this.report(e),
      ...(opts.onBfd ? { onChange: opts.onBfd } : {}),
    });
  }

  async start(global: GlobalConfig): Promise<void> {
    if (this.stopped) throw new TerraceError('Invalid', 'gobgp speaker: start after stop');
    toApiGlobal(global);
    this.global = global;
    this.ensureRib(global);
    if (!this.station) {
      const host = this.opts.stationHost ?? '127.0.0.1';
      const daemon = this.daemon;
      this.station = new BmpStation({
        rib: this.rib as AdjRibIn,
        host,
        // Only our own gobgpd may feed routes in; a sidecar's PID is not ours to know.
        ...(daemon && host === '127.0.0.1' ? { expectedPid: () => daemon.pid } : {}),
        netns: this.opts.netns ?? this.opts.daemon?.netns,
        graceMs: this.opts.restartGraceMs ?? DEFAULT_STALE_GRACE_MS,
        onEvents: (evs) => this.events.publish(evs),
        onError: (e) => this.report(e),
        // A peer BFD holds down is gone, not restarting: its paths go at once
        // (gobgpd drops them on the DisablePeer too), whatever restart time it
        // had. Only when BFD went down first, though: a BGP session that broke
        // before its BFD did (a daemon that crashed, taking its BFD with it)
        // is a control-plane restart, and graceful restart holds (RFC 5882
        // §4.3.2, a BFD that shares fate with the control plane).
        restartTimeOf: (peer) => (this.bfd.holds(peer) ? undefined : this.peers.get(peer)?.gracefulRestart?.restartTime),
        // The feed closes when gobgpd exits: check at once (a pass against a
        // daemon that is gone fails and is retried with backoff; the channel
        // becoming ready again runs the next one without waiting for it).
        onConnection: (up) => {
          if (!up) this.reconcileNow();
        },
      });
      await this.station.listen();
    }
    if (!this.checker && this.opts.ribCheck !== false) {
      const station = this.station;
      this.checker = new RibChecker(
        {
          client: this.client,
          rib: () => this.rib,
          feedUp: () => station.connected,
          publish: (evs) => this.events.publish(evs),
          resetFeed: () => station.resetFeed(),
          report: (e) => this.report(e),
        },
        this.opts.ribCheck,
      );
      this.checker.start();
    }
    if (this.daemon && this.daemon.pid === undefined) await this.daemon.start();
    else await this.client.waitReady(15000);
    // A sidecar restarted on the same address, or our own daemon back up: the
    // gRPC channel reconnects (every 250 ms at most while it is down) and the
    // whole state is applied at once, not at the next resync.
    this.unwatchChannel ??= this.client.onReadyChange((ready) => {
      if (ready) this.reconcileNow();
    });
    if (!this.resyncTimer) {
      this.resyncTimer = setInterval(() => void this.reconcile().catch(() => undefined), this.opts.resyncMs ?? 10000);
      this.resyncTimer.unref();
    }
    await this.reconcile();
  }

  async setPeers(peers: readonly PeerConfig[]): Promise<void> {
    const m = uniqueBy(peers, (p) => formatIP(p.address), 'bgp peer');
    for (const p of m.values()) toApiPeer(p); // validates before anything changes
    checkBfdPeers(bfdPeersOf(m.values()));
    this.peers = m;
    this.setImportRules(m);
    if (this.global) await this.reconcile();
  }

  async setAnnouncements(paths: readonly Announcement[]): Promise<void> {
    const m = uniqueBy(paths, (a) => formatCidr(a.prefix), 'announcement');
    for (const a of m.values()) toApiPath(a);
    this.paths = m;
    // Our own prefixes are never learned routes, whoever else announces them.
    const evs = this.rib?.setLocal(this.localPrefixes()) ?? [];
    if (evs.length > 0) this.events.publish(evs);
    if (this.global) await this.reconcile();
  }

  /**
   * Our RIB filters learned paths by each session's import rules, as gobgpd's
   * import policy does (session-policy.ts). After a change, the feed is
   * reset: gobgpd resends every peer's table, which the RIB judges again
   * (paths now rejected go, paths now accepted come in).
   */
  private setImportRules(peers: ReadonlyMap<string, PeerConfig>): void {
    const rules = new Map<string, readonly PolicyRule[]>();
    const text: string[] = [];
    for (const [addr, p] of peers) {
      if (!p.policy) continue;
      rules.set(addr, p.policy.import);
      text.push(`${addr}: ${rulesText(p.policy.import)}`);
    }
    const key = text.join('\n');
    if (key === this.importKey) return;
    this.importKey = key;
    this.importRules = rules;
    this.rib?.setImportPolicy(rules);
    if (this.station?.connected) this.station.resetFeed();
  }

  learned(): AsyncIterable<readonly LearnedEvent[]> {
    const now = this.rib?.currentEvents() ?? [];
    return this.events.subscribe(now.length > 0 ? [now] : []);
  }

  learnedSnapshot(): ReadonlyMap<PackedPrefix, LearnedHops> {
    return this.rib?.snapshot() ?? new Map();
  }

  /** Our announcements' prefixes, as the RIB keys them (announcements enter the route path here). */
  private localPrefixes(): PackedPrefix[] {
    return [...this.paths.values()].map((a) => packCidr(a.prefix));
  }

  /** The BMP feed from gobgpd is connected (routes learned are current, not stale). */
  feedConnected(): boolean {
    return this.station?.connected ?? false;
  }

  ribCheck(): RibCheckStatus {
    return this.checker?.status() ?? { state: 'unchecked', checkedAt: undefined, diverged: 0, example: undefined };
  }

  inSync(): boolean {
    return this.passes.inSync();
  }

  async peerStatus(): Promise<PeerStatus[]> {
    const res = await this.client.list('listPeer', { enableAdvertised: true });
    return res.flatMap((r) => (r.peer ? [this.toStatus(r.peer)] : []));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.unwatchChannel?.();
    this.checker?.stop();
    await this.passes.stop();
    await this.bfd.close();
    await this.station?.close();
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
    return this.passes.run();
  }

  /**
   * A pass now, for a sign that gobgpd restarted: a retry waiting out its
   * backoff runs at once and the backoff starts again from the minimum
   * (backoff is for a daemon that stays down, not for one that came back).
   */
  private reconcileNow(): void {
    if (this.stopped || !this.global) return;
    this.passes.now();
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
      // A fresh gobgpd: nothing we applied before exists any more. If we had
      // started BGP before, it restarted: its peers hear so (graceful restart).
      this.appliedPeers.clear();
      this.appliedGlobal = undefined;
      if (this.everStarted) {
        this.restartedDaemon = true;
        this.station?.daemonRestarted();
      }
    } else if (this.appliedGlobal !== undefined && this.appliedGlobal !== want) {
      // ASN, router id or port changed: BGP must be restarted to take them.
      await this.client.unary('stopBgp', {});
      this.appliedPeers.clear();
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
    await this.applySessionPolicies(startedNow, global.asn);
    // Before the peers: the feed then carries every UPDATE from the first one.
    await this.applyStation();
    await this.applyPeers();
    // BFD sessions for the peers that ask for it, and the BGP peers they hold
    // down. BFD that cannot start (UDP 3784 taken, say by a bfdd an older
    // setup ran on the node) is reported and tried again next pass; BGP goes on.
    await this.bfd.setPeers(bfdPeersOf(this.peers.values())).catch((e: unknown) => this.report(e instanceof Error ? e : new Error(String(e))));
    await this.bfd.enforce();
    // Peers added later (configuration changes) are new sessions, not a restart.
    this.restartedDaemon = false;
    await this.applyPaths();
  }

  /**
   * Takes over the paths a previous agent originated on a daemon we adopt, so
   * that applyPaths withdraws those no longer desired (a block released while
   * the agent was down) instead of leaving them announced for ever. This is
   * the one full listing of gobgpd's table; later passes look up only the
   * prefixes that can be ours.
   */
  private async adoptLocalPaths(): Promise<void> {
    for (const v of [4, 6] as const) {
      for (const r of await this.client.list('listPath', { tableType: TableType.GLOBAL, family: familyOf(v) })) {
        for (const p of r.destination?.paths ?? []) {
          const own = p.neighborIp === '<nil>' || p.neighborIp === '' ? ownPathKey(p) : undefined;
          if (own) this.announced.add(own.prefix);
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
      this.station?.peerRemoved(formatIP(parseIP(addr)));
    }
    for (const [addr, p] of this.peers) {
      const key = peerKey(p);
      if (!actual.has(addr)) {
        await this.client.unary('addPeer', { peer: toApiPeer(p, { restarting: this.restartedDaemon }) });
      } else if (routeReflectorChanged(p, listed.get(addr))) {
        // gobgpd's UpdatePeer keeps a peer's route reflector settings: only a new session takes them.
        await this.client.unary('deletePeer', { address: addr });
        this.station?.peerRemoved(formatIP(parseIP(addr)));
        await this.client.unary('addPeer', { peer: toApiPeer(p, { restarting: this.restartedDaemon }) });
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
  private async applyExportPolicy(startedNow: boolean, asn: number, filters?: string, pass?: string): Promise<void> {
    const { changed, peersChanged } = await ensureExportPolicy(this.client, peerSets(this.peers.values(), asn), filters, pass);
    // A peer whose next-hop or reflection rule changed while its session
    // stayed up holds paths sent under the old rule: send them again.
    if (!changed && !this.softResetOutPending) {
      for (const addr of peersChanged) {
        if (this.appliedPeers.has(addr)) {
          await this.client.unary('resetPeer', { address: addr, soft: true, direction: ResetPeerRequest_SoftResetDirection.OUT });
        }
      }
    }
    // Remembered until it succeeds: the next pass finds the policy in place.
    if (startedNow) this.softResetOutPending = false;
    else if (changed) this.softResetOutPending = true;
    if (!this.softResetOutPending) return;
    await this.client.unary('resetPeer', { address: 'all', soft: true, direction: ResetPeerRequest_SoftResetDirection.OUT });
    this.softResetOutPending = false;
  }

  /**
   * The sessions' import and export rules (session-policy.ts), in place
   * before any peer is configured. A changed import policy is applied to
   * what peers already sent by a soft reset in (gobgpd keeps every peer's
   * Adj-RIB-In before policy). A changed export rule needs more: gobgpd 3.10
   * withdraws a path its export policy now rejects only when it judges the
   * old path by the new policy too, which rejects it as well, so nothing is
   * withdrawn. A session is reset only when its rules changed so that a path
   * of ours they let out is now rejected; one whose rules only let more out
   * (or changed only for prefixes we do not originate: a remote cluster
   * gateway's session when a local pool is created or deleted) keeps
   * running, and the soft reset out that follows the new filter policy's
   * assignment sends what they now let out.
   */
  private async applySessionPolicies(startedNow: boolean, asn: number): Promise<void> {
    const peers = [...this.peers.values()];
    if (await ensureImportPolicy(this.client, peers)) this.softResetInPending = !startedNow;
    const filters = await defineExportFilters(this.client, peers);
    const pass = await definePassPolicy(this.client, peers);
    await this.applyExportPolicy(startedNow, asn, filters, pass);
    await pruneExportFilters(this.client, filters);
    await prunePassPolicies(this.client, pass);
    if (this.softResetInPending) {
      await this.client.unary('resetPeer', { address: 'all', soft: true, direction: ResetPeerRequest_SoftResetDirection.IN });
      this.softResetInPending = false;
    }
    for (const [addr, p] of this.peers) {
      // A changed pass list needs no reset: it only ever shrinks with the routes it held (a remote's
      // session or pool gone, a local pool deleted), and gobgpd withdraws a route that is gone.
      const rules = p.policy?.export ?? [];
      const text = rulesText(rules);
      const before = this.appliedExport.get(addr);
      // Remembered only once the reset went through: a failed one is tried again next pass.
      if (!startedNow && before !== undefined && before.text !== text && this.appliedPeers.has(addr) && this.nowWithheld(before.rules, rules)) {
        await this.client.unary('resetPeer', { address: addr, soft: false });
      }
      this.appliedExport.set(addr, { text, rules });
    }
    for (const addr of [...this.appliedExport.keys()]) if (!this.peers.has(addr)) this.appliedExport.delete(addr);
  }

  /**
   * Whether a path of ours (desired, or one gobgpd may still hold: its
   * withdrawal is judged by the new rules too) was let out by `before` and
   * is rejected by `after`.
   */
  private nowWithheld(before: readonly PolicyRule[], after: readonly PolicyRule[]): boolean {
    const prefixes = new Set([...this.paths.keys(), ...this.announced]);
    return [...prefixes].some((k) => {
      const c = parseCidr(k);
      return exportLetsOut(before, c) && !exportLetsOut(after, c);
    });
  }

  /**
   * Compares the desired paths with what gobgpd lists as ours (local paths in
   * its global table), not with what we remember sending: a path deleted
   * inside a running gobgpd (`gobgp global rib del`, another API client) comes
   * back at the next pass, and the periodic resync runs one. Only desired
   * prefixes and those we may still hold are looked up (ListPath with exact
   * prefixes), so a full learned table is not streamed on every pass.
   */
  private async applyPaths(): Promise<void> {
    const limit = this.opts.pathConcurrency ?? 32;
    const listed = await this.listOwnPaths();
    const removals = [...listed].filter(([k]) => !this.paths.has(k));
    await inParallel(removals, limit, async ([k, held]) => {
      const gone: Announcement = { prefix: parseCidr(k), nextHop: parseIP(held.nextHop) };
      await this.client.unary('deletePath', { tableType: TableType.GLOBAL, family: toApiPath(gone).family, path: toApiPath(gone, true) });
    });
    for (const k of this.announced) if (!this.paths.has(k)) this.announced.delete(k);
    const adds = [...this.paths].filter(([k, a]) => listed.get(k)?.key !== announcementKey(a));
    await inParallel(adds, limit, async ([k, a]) => {
      this.announced.add(k);
      // A new path for a prefix we already announce replaces the old one (implicit withdraw).
      await this.client.unary('addPath', { tableType: TableType.GLOBAL, path: toApiPath(a) });
    });
  }

  /** Our paths gobgpd holds for the desired and previously announced prefixes: prefix → key and next hop. */
  private async listOwnPaths(): Promise<Map<string, { key: string; nextHop: string }>> {
    const out = new Map<string, { key: string; nextHop: string }>();
    const byFamily: Record<4 | 6, string[]> = { 4: [], 6: [] };
    for (const [k, a] of this.paths) byFamily[a.prefix.family].push(k);
    for (const k of this.announced) if (!this.paths.has(k)) byFamily[parseCidr(k).family].push(k);
    for (const v of [4, 6] as const) {
      // An empty prefix list would list the whole table.
      if (byFamily[v].length === 0) continue;
      const req = {
        tableType: TableType.GLOBAL,
        family: familyOf(v),
        prefixes: byFamily[v].map((prefix) => ({ prefix, type: TableLookupPrefix_Type.EXACT })),
      };
      for (const r of await this.client.list('listPath', req)) {
        for (const p of r.destination?.paths ?? []) {
          if (p.neighborIp !== '<nil>' && p.neighborIp !== '') continue;
          const own = ownPathKey(p);
          const raw = own && fromApiPath(p);
          if (own && raw) out.set(own.prefix, { key: own.key, nextHop: raw.nextHop });
        }
      }
    }
    return out;
  }

  /**
   * Points gobgpd's BMP client at our station (pre-policy monitoring: every
   * UPDATE as received) and removes stations a previous agent left on the same
   * address. Stations elsewhere (an operator's collector) are left alone.
   */
  private async applyStation(): Promise<void> {
    const st = this.station;
    if (!st) return;
    let ours = false;
    for (const r of await this.client.list('listBmp', {})) {
      const conf = r.station?.conf;
      if (!conf || conf.address !== st.host) continue;
      if (conf.port === st.port) ours = true;
      else await this.client.unary('deleteBmp', { address: conf.address, port: conf.port });
    }
    if (ours) return;
    await this.client.unary('addBmp', {
      address: st.host,
      port: st.port,
      policy: AddBmpRequest_MonitoringPolicy.PRE,
      // gobgpd never reads the socket: a periodic write is how it notices a
      // connection we closed and dials again (with established peers).
      StatisticsTimeout: 5,
      SysName: 'terrace-agent',
    });
  }

  /** A new Adj-RIB-In when our ASN or router id changes (iBGP/eBGP and loop checks depend on them). */
  private ensureRib(global: GlobalConfig): void {
    const routerId = Number(parseIP(global.routerId).value);
    const multipath = global.multipath ?? true;
    const key = `${global.asn} ${routerId} ${multipath}`;
    const cur = this.rib;
    if (cur && this.ribKey === key) return;
    const rib = new AdjRibIn({ localAsn: global.asn, routerId, multipath });
    rib.setImportPolicy(this.importRules);
    this.ribKey = key;
    rib.setLocal(this.localPrefixes());
    if (cur) {
      const gone: LearnedEvent[] = [...cur.snapshot().keys()].map((prefix) => ({ kind: 'withdraw', prefix }));
      if (gone.length > 0) this.events.publish(gone);
    }
    this.rib = rib;
    if (this.station) this.station.rib = rib;
  }

  get daemonPid(): number | undefined {
    return this.daemon?.pid;
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
    // "held down" only once gobgpd has the peer disabled: the status says what gobgpd does.
    const adminDown = st?.adminState === PeerState_AdminState.DOWN;
    const held = adminDown ? (this.bfd.holds(address) ? ' (held down: BFD session down)' : ' (admin down)') : '';
    const info = `${label}${held}`;
    const skipped = this.skippedNote(address);
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
      updatesReceived: Number(st?.messages?.received?.update ?? 0n),
      updatesSent: Number(st?.messages?.sent?.update ?? 0n),
      info: skipped === undefined ? info : `${info}; ${skipped}`,
      ...(desired?.bfd ? { bfd: this.bfd.state(address) ?? 'down' } : {}),
    };
  }

  /** What our BMP station skipped from this peer (station.unreadableNote), if anything. */
  private skippedNote(address: string): string | undefined {
    if (this.station === undefined || address === '') return undefined;
    try {
      return this.station.unreadableNote(formatIP(parseIP(address)));
    } catch {
      return undefined;
    }
  }
}
