/**
 * The agent's BGP and routing reconciler.
 *
 *   etcd watch caches ──► computeDesiredPeers ──► speaker.setPeers (whole set)
 *                    └──► computeAnnouncements ─► speaker.setAnnouncements (whole set)
 *                                              └► blackholes ─┐
 *   speaker.learned() ──► routeForLearned ─────────────────────┴► kernel routes (our protocol)
 *   (a speaker that writes learned routes itself, BIRD, only reports them)
 *
 * Desired state is recomputed from scratch on every relevant change (the
 * pure functions are cheap next to etcd and BGP); the speaker and the route
 * sync diff it against what they hold. Learned routes are applied
 * incrementally as they arrive; a change of what we originate re-derives
 * only the prefixes it touches.
 */
import { formatIP, type IPFamily, type TerraceNode, monotonicMs, packCidr, packIP, parseCidr, parseIP } from '@terrace/api';
import type { Announcement as SpeakerAnnouncement, BgpSpeaker, GlobalConfig, PeerConfig } from '@terrace/bgp';
import { announcedNextHops, computeAnnouncements, type AnnounceResult } from './announce.js';
import { announceConfig } from './advertise.js';
import type { Logger } from '@terrace/log';
import { computeDesiredPeers, nodeAddresses, type DesiredBgp, type PasswordResolver, type SelectorMatcher } from './peers.js';
import { LearnedRoutes, type KernelRouteSink } from './learned.js';
import { sessionPolicies } from './policies.js';
import { computeRemotePlan, withRemotePeers } from './remote-peers.js';
import type { KernelRoute } from './routes.js';
import type { ClusterState } from './sources.js';

export type { KernelRouteSink } from './learned.js';

export interface ReconcilerOptions {
  nodeName: string;
  /** The Node as registered: used until the watch cache has it. */
  registered: TerraceNode;
  state: ClusterState;
  speaker: BgpSpeaker;
  routes: KernelRouteSink;
  matches: SelectorMatcher;
  password?: PasswordResolver;
  log: Logger;
  /** Coalesces bursts of etcd changes (ms, default 50). */
  debounceMs?: number;
  /** After each pass that followed a change: its duration, and the time since the change was seen (s). */
  onPass?: (seconds: number, lagSeconds: number | undefined) => void;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function toSpeakerGlobal(d: DesiredBgp): GlobalConfig {
  return { asn: d.global.asNumber, routerId: d.global.routerId, listenPort: d.global.listenPort, multipath: true };
}

export function toSpeakerPeers(d: DesiredBgp): PeerConfig[] {
  return d.peers.map((p) => {
    const c: PeerConfig = { address: parseIP(p.address), port: p.port, asn: p.asNumber, type: p.type, description: p.source };
    if (p.keepaliveTime !== undefined) c.keepaliveTime = p.keepaliveTime;
    if (p.holdTime !== undefined) c.holdTime = p.holdTime;
    if (p.password !== undefined) c.password = p.password;
    if (p.ttlSecurity !== undefined) c.ttlSecurity = p.ttlSecurity;
    if (p.restartTime !== undefined) c.gracefulRestart = { restartTime: p.restartTime };
    if (p.localAddress !== undefined) c.localAddress = parseIP(p.localAddress);
    if (p.bfd !== undefined) c.bfd = { ...p.bfd };
    if (p.routeReflectorClusterId !== undefined) {
      c.routeReflectorClient = true;
      c.routeReflectorClusterId = p.routeReflectorClusterId;
    }
    if (p.nextHopMode !== undefined) c.nextHopMode = p.nextHopMode === 'Self' ? 'self' : 'keep';
    return c;
  });
}

export function toSpeakerAnnouncements(a: AnnounceResult): SpeakerAnnouncement[] {
  return a.announcements.map((x) => ({ prefix: parseCidr(x.prefix), nextHop: parseIP(x.nextHop), communities: x.communities }));
}

export class Reconciler {
  private desired: DesiredBgp | undefined;
  private announced: AnnounceResult = { announcements: [], blackholes: [], problems: [] };
  private lastProblems = '';
  private started = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private learnedLoop: Promise<void> | undefined;
  /** Learned paths and the kernel routes derived from them. */
  private readonly learned: LearnedRoutes;
  private readonly unsubscribe: () => void;

  constructor(private readonly opts: ReconcilerOptions) {
    // An invalid route is a bug in the route derivation; the rest still goes out.
    this.learned = new LearnedRoutes(opts.routes, (e) => opts.log.error('route update refused', { error: e.message }));
    this.unsubscribe = opts.state.onChange(() => {
      this.changedAt ??= performance.now();
      this.schedule();
    });
  }

  /** Applies the first desired state, then follows changes. */
  async start(): Promise<void> {
    await this.reconcileOnce();
    this.learnedLoop = this.followLearned();
  }

  /** The last computed peers (for status). */
  desiredPeers(): DesiredBgp | undefined {
    return this.desired;
  }

  announcements(): AnnounceResult {
    return this.announced;
  }

  learnedCount(): number {
    return this.opts.speaker.writesKernelRoutes ? this.opts.speaker.learnedSnapshot().size : this.learned.learnedCount;
  }

  /** When the speaker last reported learned paths (0: never). */
  lastLearnedAt(): number {
    return this.learnedAt;
  }
  private learnedAt = 0;

  /** Learned routes in the kernel: ours (route sync), or the speaker's own when it writes them. */
  installedCount(): number {
    return this.opts.speaker.writesKernelRoutes ? this.opts.speaker.learnedSnapshot().size : this.learned.installedCount;
  }

  /** Recomputes after the debounce; at most one pass runs at a time. */
  schedule(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.running
        .then(() => this.timedPass())
        .catch((e: unknown) => {
          this.opts.log.error('reconcile failed; retrying', { error: (e as Error).message });
          setTimeout(() => this.schedule(), 1000).unref();
        });
    }, this.opts.debounceMs ?? 50);
  }

  /** The first etcd change not yet applied (performance.now()), for the reconcile lag. */
  private changedAt: number | undefined;

  private async timedPass(): Promise<void> {
    const since = this.changedAt;
    this.changedAt = undefined;
    const t0 = performance.now();
    await this.reconcileOnce();
    const t1 = performance.now();
    this.opts.onPass?.((t1 - t0) / 1000, since === undefined ? undefined : (t1 - since) / 1000);
  }

  private self(): TerraceNode {
    return this.opts.state.nodes().find((n) => n.metadata.name === this.opts.nodeName) ?? this.opts.registered;
  }

  private async reconcileOnce(): Promise<void> {
    if (this.stopped) return;
    const { state, speaker, log } = this.opts;
    const self = this.self();
    const peerInputs = { self, nodes: state.nodes(), configs: state.bgpConfigurations(), peers: state.bgpPeers(), matches: this.opts.matches };
    const cluster = computeDesiredPeers(this.opts.password ? { ...peerInputs, password: this.opts.password } : peerInputs);
    const remote = computeRemotePlan({
      self,
      asNumber: cluster.global.asNumber,
      remotes: state.remoteClusters?.() ?? [],
      states: state.remoteStates?.() ?? [],
      pools: state.pools(),
      matches: this.opts.matches,
    });
    const desired = withRemotePeers(cluster, remote);
    const addrs = announcedNextHops(self);
    const config = announceConfig(state.bgpConfigurations(), this.opts.nodeName);
    const announced = computeAnnouncements({ nodeName: this.opts.nodeName, addresses: addrs, blocks: state.blocks(), pools: state.pools(), config });
    const policies = sessionPolicies(desired, state.pools(), state.bgpFilters?.() ?? [], remote.remotes);
    const problems = [...desired.problems, ...announced.problems, ...policies.problems].join('\n');
    if (problems !== this.lastProblems) {
      for (const p of [...desired.problems, ...announced.problems, ...policies.problems]) log.warn(p);
      this.lastProblems = problems;
    }

    const prev = this.desired;
    const mustStart = !this.started || !prev || !sameJson(prev.global, desired.global);
    if (mustStart) {
      this.started = false;
      this.peersApplied = undefined;
      this.pathsApplied = undefined;
    }
    this.desired = desired;
    // The speaker keeps the desired sets and retries on its own; a rejection
    // here means "not applied yet", which is logged, not retried by us.
    // Peers and paths are handed over BEFORE start(): start() reconciles a
    // daemon that, after an agent restart, still holds the previous run's
    // sessions and paths, and an empty desired set at that moment would tear
    // every session down (seconds of lost traffic) only to rebuild it.
    const peersJson = `${JSON.stringify(desired.peers)}\n${policies.key}`;
    if (this.peersApplied !== peersJson) {
      log.info('BGP peers', { peers: desired.peers.map((p) => `${p.address} (${p.type}, AS ${p.asNumber}${p.routeReflectorClusterId ? `, route reflector client in ${p.routeReflectorClusterId}` : ''})`) });
      this.peersApplied = peersJson;
      const withPolicy = toSpeakerPeers(desired).map((c) => {
        const policy = policies.byAddress.get(formatIP(c.address));
        return policy ? { ...c, policy } : c;
      });
      await speaker.setPeers(withPolicy).catch((e: unknown) => log.warn('BGP peers not applied yet', { error: (e as Error).message }));
    }
    const pathsJson = JSON.stringify(announced.announcements);
    if (this.pathsApplied !== pathsJson) {
      log.info('announcing', { prefixes: announced.announcements.map((a) => a.prefix) });
      this.pathsApplied = pathsJson;
      await speaker
        .setAnnouncements(toSpeakerAnnouncements(announced))
        .catch((e: unknown) => log.warn('announcements not applied yet', { error: (e as Error).message }));
    }
    if (mustStart) {
      log.info('starting BGP', { as: desired.global.asNumber, routerId: desired.global.routerId, listenPort: desired.global.listenPort });
      // A failure here is retried as a whole by the next pass.
      await speaker.start(toSpeakerGlobal(desired));
      this.started = true;
    }
    // Our own addresses, not the announced next hops (which are 0.0.0.0 and :: on a node with a loopback address).
    this.updateOriginated(announced, nodeAddresses(self));
    this.announced = announced;
  }

  private peersApplied: string | undefined;
  private pathsApplied: string | undefined;

  /** Re-derives the kernel routes whose prefix we started or stopped originating. */
  private updateOriginated(a: AnnounceResult, addrs: Partial<Record<IPFamily, string>>): void {
    // Configuration enters the route path here: packed once, as the BGP feed's values are.
    const blackholes = new Set(a.blackholes.map((x) => packCidr(parseCidr(x))));
    const originated = new Set([...a.announcements.map((x) => packCidr(parseCidr(x.prefix))), ...blackholes]);
    const selfAddresses = new Set(
      Object.values(addrs)
        .filter((x): x is string => x !== undefined)
        .map((x) => packIP(parseIP(x))),
    );
    this.learned.setContext({ originated, selfAddresses }, blackholes);
  }

  private async followLearned(): Promise<void> {
    // A speaker that writes learned routes itself (BIRD) owns them in the
    // kernel: route sync then holds only our blackholes and pod routes.
    const ours = !this.opts.speaker.writesKernelRoutes;
    try {
      for await (const batch of this.opts.speaker.learned()) {
        if (this.stopped) break;
        this.learnedAt = monotonicMs();
        if (ours) this.learned.apply(batch);
      }
    } catch (e) {
      if (!this.stopped) this.opts.log.error('learned-route stream ended', { error: (e as Error).message });
    }
  }

  /** The whole kernel set, for a full resync. */
  kernelRoutes(): KernelRoute[] {
    return this.learned.kernelRoutes();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe();
    if (this.timer) clearTimeout(this.timer);
    await this.running.catch(() => undefined);
    // The learned stream ends when the speaker stops; do not wait for it here.
    void this.learnedLoop;
  }
}
