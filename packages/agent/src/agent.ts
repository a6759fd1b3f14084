/**
 * The agent's BGP and routing reconciler.
 *
 *   etcd watch caches ──► computeDesiredPeers ──► speaker.setPeers (whole set)
 *                    └──► computeAnnouncements ─► speaker.setAnnouncements (whole set)
 *                                              └► blackholes ─┐
 *   speaker.learned() ──► routeForLearned ─────────────────────┴► kernel routes (our protocol)
 *
 * Desired state is recomputed from scratch on every relevant change (the
 * pure functions are cheap next to etcd and BGP); the speaker and the route
 * sync diff it against what they hold. Learned routes are applied
 * incrementally as they arrive; a change of what we originate re-derives
 * only the prefixes it touches.
 */
import { type Cidr, type IPAddr, type IPFamily, type TerraceNode, formatCidr, parseCidr, parseIP } from '@terrace/api';
import type { Announcement as SpeakerAnnouncement, BgpSpeaker, GlobalConfig, PeerConfig } from '@terrace/bgp';
import { computeAnnouncements, type AnnounceResult } from './announce.js';
import type { Logger } from '@terrace/log';
import { computeDesiredPeers, nodeAddresses, type DesiredBgp, type PasswordResolver, type SelectorMatcher } from './peers.js';
import { type RouteSync, routeAttrs, blackholeRoute } from '@terrace/dataplane';
import { routeForLearned, type KernelRoute, type RouteContext } from './routes.js';
import type { ClusterState } from './sources.js';

/** Where kernel routes go: the dataplane's RouteSync (which batches and never blocks the caller). */
export type KernelRouteSink = Pick<RouteSync, 'upsert' | 'remove'>;

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
    return c;
  });
}

export function toSpeakerAnnouncements(a: AnnounceResult): SpeakerAnnouncement[] {
  return a.announcements.map((x) => ({ prefix: parseCidr(x.prefix), nextHop: parseIP(x.nextHop) }));
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
  /** prefix → next hops, as the speaker last told us. */
  private readonly learned = new Map<string, { prefix: Cidr; nextHops: readonly IPAddr[] }>();
  /** What we asked the kernel for, by prefix. */
  private readonly kernel = new Map<string, KernelRoute>();
  private ctx: RouteContext = { originated: new Set(), selfAddresses: new Set() };
  private readonly unsubscribe: () => void;

  constructor(private readonly opts: ReconcilerOptions) {
    this.unsubscribe = opts.state.onChange(() => this.schedule());
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
    return this.learned.size;
  }

  /** When the speaker last reported learned paths (0: never). */
  lastLearnedAt(): number {
    return this.learnedAt;
  }
  private learnedAt = 0;

  installedCount(): number {
    return this.kernel.size;
  }

  /** Recomputes after the debounce; at most one pass runs at a time. */
  schedule(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.running
        .then(() => this.reconcileOnce())
        .catch((e: unknown) => {
          this.opts.log.error('reconcile failed; retrying', { error: (e as Error).message });
          setTimeout(() => this.schedule(), 1000).unref();
        });
    }, this.opts.debounceMs ?? 50);
  }

  private self(): TerraceNode {
    return this.opts.state.nodes().find((n) => n.metadata.name === this.opts.nodeName) ?? this.opts.registered;
  }

  private async reconcileOnce(): Promise<void> {
    if (this.stopped) return;
    const { state, speaker, log } = this.opts;
    const self = this.self();
    const peerInputs = { self, nodes: state.nodes(), configs: state.bgpConfigurations(), peers: state.bgpPeers(), matches: this.opts.matches };
    const desired = computeDesiredPeers(this.opts.password ? { ...peerInputs, password: this.opts.password } : peerInputs);
    const addrs = nodeAddresses(self);
    const announced = computeAnnouncements({ nodeName: this.opts.nodeName, addresses: addrs, blocks: state.blocks(), pools: state.pools() });
    const problems = [...desired.problems, ...announced.problems].join('\n');
    if (problems !== this.lastProblems) {
      for (const p of [...desired.problems, ...announced.problems]) log.warn(p);
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
    const peersJson = JSON.stringify(desired.peers);
    if (this.peersApplied !== peersJson) {
      log.info('BGP peers', { peers: desired.peers.map((p) => `${p.address} (${p.type}, AS ${p.asNumber})`) });
      this.peersApplied = peersJson;
      await speaker.setPeers(toSpeakerPeers(desired)).catch((e: unknown) => log.warn('BGP peers not applied yet', { error: (e as Error).message }));
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
    this.updateOriginated(announced, addrs);
    this.announced = announced;
  }

  private peersApplied: string | undefined;
  private pathsApplied: string | undefined;

  /** Re-derives the kernel routes whose prefix we started or stopped originating. */
  private updateOriginated(a: AnnounceResult, addrs: Partial<Record<IPFamily, string>>): void {
    const originated = new Set([...a.announcements.map((x) => x.prefix), ...a.blackholes]);
    const selfAddresses = new Set(Object.values(addrs).filter((x): x is string => x !== undefined));
    const oldCtx = this.ctx;
    this.ctx = { originated, selfAddresses };
    const blackholes = new Set(a.blackholes);
    const touched = new Set<string>();
    for (const p of oldCtx.originated) if (!originated.has(p)) touched.add(p);
    for (const p of originated) if (!oldCtx.originated.has(p)) touched.add(p);
    for (const p of this.announced.blackholes) if (!blackholes.has(p)) touched.add(p);
    for (const p of blackholes) touched.add(p);
    if (!sameJson([...oldCtx.selfAddresses], [...selfAddresses])) for (const p of this.learned.keys()) touched.add(p);
    const set: KernelRoute[] = [];
    const remove: Cidr[] = [];
    for (const p of touched) {
      const want = this.routeFor(p, blackholes);
      const have = this.kernel.get(p);
      if (want && (!have || !sameRoute(want, have))) {
        set.push(want);
        this.kernel.set(p, want);
      } else if (!want && have) {
        remove.push(have.dst);
        this.kernel.delete(p);
      }
    }
    this.apply(set, remove);
  }

  private routeFor(prefix: string, blackholes: ReadonlySet<string>): KernelRoute | undefined {
    if (blackholes.has(prefix)) return blackholeRoute(parseCidr(prefix));
    const l = this.learned.get(prefix);
    return l ? routeForLearned(l.prefix, l.nextHops, this.ctx, prefix) : undefined;
  }

  private async followLearned(): Promise<void> {
    const blackholesNow = (): Set<string> => new Set(this.announced.blackholes);
    try {
      for await (const batch of this.opts.speaker.learned()) {
        if (this.stopped) break;
        this.learnedAt = Date.now();
        const set: KernelRoute[] = [];
        const remove: Cidr[] = [];
        const blackholes = blackholesNow();
        for (const ev of batch) {
          const key = ev.key ?? formatCidr(ev.prefix);
          if (ev.kind === 'set') this.learned.set(key, { prefix: ev.prefix, nextHops: ev.nextHops });
          else this.learned.delete(key);
          const want = this.routeFor(key, blackholes);
          const have = this.kernel.get(key);
          if (want) {
            if (!have || !sameRoute(want, have)) {
              set.push(want);
              this.kernel.set(key, want);
            }
          } else if (have) {
            remove.push(have.dst);
            this.kernel.delete(key);
          }
        }
        this.apply(set, remove);
      }
    } catch (e) {
      if (!this.stopped) this.opts.log.error('learned-route stream ended', { error: (e as Error).message });
    }
  }

  private apply(set: KernelRoute[], remove: Cidr[]): void {
    try {
      if (remove.length) this.opts.routes.remove(remove);
      if (set.length) this.opts.routes.upsert(set);
    } catch (e) {
      // An invalid route is a bug in the route derivation; the rest still goes out.
      this.opts.log.error('route update refused', { error: (e as Error).message });
    }
  }

  /** The whole kernel set, for a full resync. */
  kernelRoutes(): KernelRoute[] {
    return [...this.kernel.values()];
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

function sameRoute(a: KernelRoute, b: KernelRoute): boolean {
  return routeAttrs(a) === routeAttrs(b);
}
