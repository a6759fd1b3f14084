/**
 * One node's agent, composed: registration, liveness, the watch caches, the
 * BGP speaker (our own supervised gobgpd or a sidecar), route sync, the
 * reconciler and the status publisher. main.ts builds it from flags; tests
 * build it directly (etcd in the root namespace, gobgpd and routes in a lab
 * namespace).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { TerraceError, type BgpBackend, type TerraceNode, monotonicMs, parseSelector } from '@terrace/api';
import { BIRD_KERNEL_PROTOCOL, DEFAULT_STALE_GRACE_MS, createSpeaker, type BgpSpeaker, type GobgpSpeakerOptions } from '@terrace/bgp';
import { NatTable, RouteSync, type UnicastRoute } from '@terrace/dataplane';
import type { Keys, ResourceStore } from '@terrace/datastore';
import type { Etcd3 } from 'etcd3';
import { Allocator } from '@terrace/ipam';
import { Reconciler } from './agent.js';
import { type CniServer, allocatorIpam, etcdReadiness, localPodRoutes, podRoutesThrough, startCniServer } from './cni/index.js';
import type { AgentConfig } from './config.js';
import { Liveness } from './liveness.js';
import { NatReconciler } from './nat.js';
import type { Logger } from '@terrace/log';
import type { SelectorMatcher } from './peers.js';
import { effectiveBackend, registerNode } from './registration.js';
import { fileSecretResolver } from './secrets.js';
import { buildNodeStatus } from './status.js';
import { Md5Watch } from './md5.js';
import { QueryResponder } from './query-answer.js';
import { type AgentMetrics, peerSamples } from './metrics.js';
import type { PeerStatus } from '@terrace/bgp';
import { StatusTurns } from './status-turn.js';
import { type AddressConflict, LocalPods, describeConflict, findConflicts, localPodAddresses, readHolders } from './taken.js';
import { type ClosableClusterState, openClusterState } from './watch.js';

/** How long the speaker must be quiet after reporting paths before stale routes go. */
const STALE_QUIET_MS = 1000;

export interface NodeAgentOptions {
  config: AgentConfig;
  etcd: Etcd3;
  keys: Keys;
  store: ResourceStore;
  log: Logger;
  /** Run gobgpd and program routes in this network namespace (tests; the lab runs the whole agent inside it). */
  netns?: string;
  /** gobgpd API address when the agent supervises it (default 127.0.0.1:<gobgp api port>); tests use a unix socket. */
  gobgpApiAddress?: string;
  /** Speaker timers (tests shorten them). */
  speakerTuning?: Pick<GobgpSpeakerOptions, 'restartGraceMs' | 'resyncMs'> & { initialBackoffMs?: number };
  /** Fed by observer hooks when given (main.ts; see metrics.ts). */
  metrics?: AgentMetrics;
  /** Told each time a status publication finishes, written or not (liveness: a stuck one stops the beats). */
  onStatusTurn?: () => void;
}

/** Caches parsed selectors: the same few selectors are evaluated against every node on every change. */
export function cachedSelectorMatcher(): SelectorMatcher {
  const cache = new Map<string, ReturnType<typeof parseSelector>>();
  return (text, labels) => {
    let sel = cache.get(text);
    if (!sel) {
      sel = parseSelector(text);
      if (cache.size > 1000) cache.clear();
      cache.set(text, sel);
    }
    return sel.matches(labels);
  };
}

export class NodeAgent {
  readonly routes: RouteSync;
  private bgp: BgpSpeaker | undefined;
  private liveness: Liveness | undefined;
  private state: ClosableClusterState | undefined;
  private reconciler: Reconciler | undefined;
  private nat: NatReconciler | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  /** This namespace's TCP MD5 drop counters, sampled with each status publication. */
  private readonly md5 = new Md5Watch();
  private readonly statusTurns: StatusTurns;
  private node: TerraceNode | undefined;
  private cni: CniServer | undefined;
  private queries: QueryResponder | undefined;
  /** Pod addresses taken from this node (taken.ts); checked after every gap in liveness. */
  private conflicts: AddressConflict[] = [];
  /** The pods the CNI server wired, for that check. */
  private readonly localPods = new LocalPods();
  private stopped = false;

  constructor(private readonly opts: NodeAgentOptions) {
    const { config, log, netns } = opts;
    this.statusTurns = new StatusTurns((e) => log.warn('cannot publish node status', { error: e.message }), opts.onStatusTurn);
    // holdStale: a restarted agent keeps the routes its previous run installed
    // until BGP has re-sent what it learned (see releaseStaleWhenSettled).
    // BIRD's kernel routes (on a BIRD node) are BIRD's alone: route sync need not even read their announcements.
    this.routes = new RouteSync({
      ...(netns ? { netns } : {}),
      logger: log,
      resyncIntervalMs: config.resyncIntervalMs,
      holdStale: true,
      ignoreProtocols: [BIRD_KERNEL_PROTOCOL],
      ...(opts.metrics ? { observer: opts.metrics.routeSync } : {}),
    });
    opts.metrics?.countRoutesWith(() => this.routes.size);
  }

  /** The node's BGP speaker; chosen at start(), from the Node resource or --bgp-backend. */
  get speaker(): BgpSpeaker {
    if (!this.bgp) throw new TerraceError('Internal', 'the BGP speaker is chosen when the agent starts');
    return this.bgp;
  }

  /** The speaker for `backend`, supervised or a sidecar as configured. */
  private makeSpeaker(backend: BgpBackend): BgpSpeaker {
    const { config, log, netns } = this.opts;
    const { initialBackoffMs, ...tuning } = this.opts.speakerTuning ?? {};
    const onError = (e: Error): void => {
      log.warn('bgp speaker', { error: e.message });
    };
    const backoff = initialBackoffMs !== undefined ? { initialBackoffMs } : {};
    if (backend === 'bird') {
      const { dir, binary, sidecar } = config.bird;
      const configPath = join(dir, 'bird.conf');
      const socketPath = join(dir, 'bird.ctl');
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      return createSpeaker({
        backend,
        bird: {
          ...(tuning.resyncMs !== undefined ? { resyncMs: tuning.resyncMs } : {}),
          ...(sidecar
            ? { sidecar: { configPath, socketPath } }
            : { daemon: { ...backoff, configPath, socketPath, binary, ...(netns ? { netns } : {}), onLog: (line) => log.debug('bird', { line }) } }),
          checkBinary: binary,
          onError,
        },
      });
    }
    if (config.gobgp.kind === 'sidecar') return createSpeaker({ backend, gobgp: { ...tuning, address: config.gobgp.address, onError } });
    return createSpeaker({
      backend,
      gobgp: {
        ...tuning,
        daemon: {
          ...backoff,
          apiAddress: this.opts.gobgpApiAddress ?? `127.0.0.1:${config.gobgp.apiPort}`,
          binary: config.gobgp.binary,
          ...(netns ? { netns } : {}),
          onLog: (line) => log.debug('gobgpd', { line }),
        },
        onError,
      },
    });
  }

  /** Registers the node, takes the lease, and starts reconciling; resolves once the first state is applied. */
  async start(): Promise<void> {
    const { config, etcd, keys, store, log, netns } = this.opts;
    const reg = await registerNode(store, {
      name: config.nodeName,
      addresses: config.addresses,
      asNumber: config.asNumber,
      labels: config.labels,
      backend: config.bgpBackend,
    });
    this.node = reg.node;
    const backend = effectiveBackend(reg.node, config.bgpBackend);
    log.info(`node ${reg.action}`, { addresses: config.addresses, as: reg.node.spec.bgp?.asNumber, labels: reg.node.metadata.labels, bgpBackend: backend });
    if (backend !== config.bgpBackend) log.info('BGP backend set by the Node resource (spec.bgp.backend)', { backend, flag: config.bgpBackend });
    this.bgp = this.makeSpeaker(backend);

    this.liveness = new Liveness({
      etcd,
      key: keys.alive(config.nodeName),
      ttlSeconds: config.leaseTtlSeconds,
      value: () => JSON.stringify({ node: config.nodeName, pid: process.pid, since: new Date().toISOString() }),
      log,
    });
    await this.liveness.start();
    this.liveness.on('renewed', () => void this.checkTaken().then(() => this.publishStatus()));
    // Live from now on: route queries get an answer ("starting") at once, so
    // an asker tells a starting agent from one that is stuck.
    await this.startQueryResponder();

    this.state = await openClusterState(etcd, keys, log);
    this.reconciler = new Reconciler({
      nodeName: config.nodeName,
      registered: reg.node,
      state: this.state,
      speaker: this.speaker,
      routes: this.routes,
      matches: cachedSelectorMatcher(),
      password: fileSecretResolver(config.secretsDir),
      log,
      ...(this.opts.metrics ? { onPass: this.opts.metrics.reconciled.bind(this.opts.metrics) } : {}),
    });
    // Existing pods' host routes join the desired set before the first sync.
    // The allocator reads pools and node labels from the same watch caches,
    // so a pod's ADD into a block with room is one etcd transaction.
    const ipam = config.cniSocket !== undefined ? allocatorIpam(new Allocator({ etcd, keys, watched: this.state })) : undefined;
    const podRoutes = ipam ? await localPodRoutes(ipam, config.nodeName) : [];
    this.routes.upsert(podRoutes);
    await this.reconciler.start();
    // natOutgoing: our nftables table, resynced on the route sync's interval.
    this.nat = new NatReconciler(this.state, new NatTable({ ...(netns ? { netns } : {}), logger: log, resyncIntervalMs: config.resyncIntervalMs }), log);
    await this.nat.start();
    this.releaseStaleWhenSettled();
    if (config.cniSocket !== undefined && ipam) await this.startCni(config.cniSocket, ipam, podRoutes);
    this.queryResponderReady();
    await this.checkTaken();
    await this.publishStatus();
    // While conflicts last, every round checks again, so the record clears once the pods are gone.
    this.statusTimer = setInterval(() => void (this.conflicts.length ? this.checkTaken() : Promise.resolve()).then(() => this.publishStatus()), config.statusIntervalMs);
    this.statusTimer.unref();
    this.started = true;
  }

  /** start() has finished: registered, pod routes seeded, BGP configured, CNI served. */
  started = false;

  /** The speaker's sessions within a second, or why not; undefined until BGP is configured (readiness). */
  async sessionsForReadiness(): Promise<PeerStatus[] | string | undefined> {
    if (!this.reconciler?.desiredPeers()) return undefined;
    try {
      return await withTimeout(this.speaker.peerStatus(), 1000, 'the BGP speaker');
    } catch (e) {
      return (e as Error).message;
    }
  }

  /**
   * Lets the route sync remove routes of a previous run once BGP has settled:
   * the speaker has reported learned paths and then been quiet for a second,
   * or the speaker's stale grace has passed (a node with no peers learns
   * nothing): a restarted agent keeps unconfirmed routes exactly as long as
   * the speaker keeps unconfirmed paths after gobgpd restarts.
   */
  private releaseStaleWhenSettled(): void {
    const holdMaxMs = this.opts.speakerTuning?.restartGraceMs ?? DEFAULT_STALE_GRACE_MS;
    const started = monotonicMs();
    const timer = setInterval(() => {
      const r = this.reconciler;
      const now = monotonicMs();
      const last = r?.lastLearnedAt() ?? 0;
      if (this.stopped || (last > 0 && now - last >= STALE_QUIET_MS) || now - started >= holdMaxMs) {
        clearInterval(timer);
        if (!this.stopped) {
          this.opts.log.info('route sync: removing routes of a previous run that BGP did not confirm');
          this.routes.releaseStale();
        }
      }
    }, 250);
    timer.unref();
  }

  /**
   * Serves CNI on the unix socket. Pod host routes go into the same route
   * sync as BGP routes (it owns our protocol number); existing pods' routes
   * were seeded from IPAM before the first sync, so a restarted agent keeps them.
   */
  private async startCni(socketPath: string, ipam: ReturnType<typeof allocatorIpam>, knownPodRoutes: UnicastRoute[]): Promise<void> {
    const { config, etcd, keys, log, netns } = this.opts;
    this.cni = await startCniServer({
      socketPath,
      ipam,
      nodeName: config.nodeName,
      stateDir: config.cniStateDir,
      knownPodRoutes,
      ...(config.podMtu !== undefined ? { mtu: config.podMtu } : {}),
      ...(netns ? { hostNetns: `/var/run/netns/${netns}` } : {}),
      datastoreReady: etcdReadiness(etcd, keys.alive(config.nodeName)),
      bgpReady: () => this.speakerReadiness(),
      onEvent: (e) => {
        this.opts.metrics?.cni(e);
        log.log(e.ok ? 'info' : 'warn', `cni ${e.command}`, { req: e.req, handle: e.handle, ms: e.ms, detail: e.detail });
      },
      log: (level, message, fields) => log.log(level, message, fields),
      ...this.trackingPods(podRoutesThrough(this.routes), knownPodRoutes),
    });
    log.info('serving CNI', { socket: socketPath });
  }

  /** Answers route queries (datastore route-query.ts); `starting` until queryResponderReady(). */
  private async startQueryResponder(): Promise<void> {
    const { config, etcd, keys, log } = this.opts;
    this.queries = new QueryResponder({ etcd, keys, node: config.nodeName, backend: this.speaker.backend, log });
    await this.queries.start();
  }

  /** BGP, routes, NAT and CNI are up: answers come from the speaker, the kernel and what we announce. */
  private queryResponderReady(): void {
    const reconciler = this.reconciler;
    if (!reconciler) return;
    this.queries?.ready(async () => ({
      originated: reconciler.announcements().announcements.map((a) => a.prefix),
      learned: this.speaker.learnedSnapshot(),
      kernel: await this.routes.readAnyRoutes(),
    }));
  }

  /** Keeps localPods current with the host routes the CNI server adds and removes. */
  private trackingPods(through: ReturnType<typeof podRoutesThrough>, known: readonly UnicastRoute[]): ReturnType<typeof podRoutesThrough> {
    this.localPods.add(known);
    return {
      onPodRoutesAdded: (routes) => {
        this.localPods.add(routes);
        return through.onPodRoutesAdded?.(routes);
      },
      onPodRoutesRemoved: (routes) => {
        this.localPods.remove(routes);
        through.onPodRoutesRemoved?.(routes);
      },
    };
  }

  /** Finds our pods' addresses that IPAM gives to others (taken.ts) and says so for each new one. Never throws. */
  private async checkTaken(): Promise<void> {
    const { config, etcd, keys, log } = this.opts;
    try {
      const pods = this.localPods.with(localPodAddresses(await this.routes.readAnyRoutes()));
      const found = findConflicts(config.nodeName, pods, await readHolders(etcd, keys));
      log.info('pod addresses checked against IPAM', { pods: pods.length, taken: found.length });
      const known = new Set(this.conflicts.map((c) => `${c.address} ${c.holder ?? ''}`));
      for (const c of found) if (!known.has(`${c.address} ${c.holder ?? ''}`)) log.error(describeConflict(c), { ...c });
      if (this.conflicts.length > 0 && found.length === 0) log.info('no pod address of this node is held by another any more');
      this.conflicts = found;
    } catch (e) {
      log.warn('cannot check whether pod addresses were taken from this node', { error: (e as Error).message });
    }
  }

  /** STATUS: the speaker is ready when it answers a peer listing within a second. */
  private async speakerReadiness(): Promise<string | undefined> {
    const sessions = await this.sessionsForReadiness();
    if (sessions === undefined) return 'BGP is not configured yet';
    return typeof sessions === 'string' ? sessions : undefined;
  }

  /** Builds and writes the status record (bound to the lease). Never throws. */
  publishStatus(): Promise<void> {
    if (this.stopped || !this.reconciler || !this.liveness) return Promise.resolve();
    const reconciler = this.reconciler;
    const liveness = this.liveness;
    return this.statusTurns.run(async () => {
      const desired = reconciler.desiredPeers();
      if (!desired) return;
      let sessions;
      let sessionsError: string | undefined;
      try {
        sessions = await withTimeout(this.speaker.peerStatus(), 2000, 'peer status');
      } catch (e) {
        sessionsError = (e as Error).message;
      }
      const status = buildNodeStatus({
        node: this.opts.config.nodeName,
        backend: this.speaker.backend,
        desired,
        sessions,
        ...(sessionsError ? { sessionsError } : {}),
        received: reconciler.learnedCount(),
        advertised: reconciler.announcements().announcements.map((a) => a.prefix),
        installed: reconciler.installedCount(),
        ...(this.speaker.ribCheck ? { ribCheck: this.speaker.ribCheck() } : {}),
        ...(this.nat ? { nat: this.nat.status() } : {}),
        md5Rise: this.md5.rise(),
        addressConflicts: this.conflicts,
        now: new Date(),
      });
      this.opts.metrics?.peers(peerSamples(status, sessions, new Date(status.updatedAt)));
      // Bounded like the speaker's answer: an etcd outage fails the write, not the loop.
      await withTimeout(liveness.put(this.opts.keys.status(this.opts.config.nodeName), JSON.stringify(status)), STATUS_WRITE_TIMEOUT_MS, 'the status write');
    });
  }

  /** The reconciler, for tests and the CNI server. */
  get reconcilerForTests(): Reconciler | undefined {
    return this.reconciler;
  }

  get registeredNode(): TerraceNode | undefined {
    return this.node;
  }

  /**
   * Stops everything the agent started. Routes and the NAT table stay in the
   * kernel and the status goes with the lease: a restarted agent picks up
   * from there.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.statusTimer) clearInterval(this.statusTimer);
    await this.statusTurns.inFlight;
    await this.queries?.stop();
    await this.cni?.close();
    await this.reconciler?.stop();
    await this.nat?.stop();
    await this.state?.close();
    await this.bgp?.stop();
    await this.routes.close();
    await this.liveness?.stop();
  }
}

/** A status write that takes longer has failed (the next turn writes again). */
const STATUS_WRITE_TIMEOUT_MS = 5000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}
