/**
 * The agent's Prometheus metrics: one registry per agent, fed by small
 * observer hooks (route sync, CNI events, reconcile passes, etcd calls, the
 * status publisher) so that no hot path computes anything for them. The
 * per-peer BGP families are refreshed from the same speaker answer the
 * published node status (`terracectl node status`) is built from.
 *
 * Names: ours carry the `terrace_` prefix; the per-peer BGP families follow
 * bird_exporter and the GoBGP exporters (`…_up`, prefixes received /
 * accepted / advertised, uptime, updates); the resync histogram mirrors
 * Felix's `route_table_resync_seconds`.
 */
import type { NodeStatus, TerraceError } from '@terrace/api';
import type { PeerStatus } from '@terrace/bgp';
import type { ResyncReport, RouteSyncObserver } from '@terrace/dataplane';
import { LATENCY_BUCKETS as SHORT, etcdRequestMetrics } from '@terrace/log';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CniEvent } from './cni/handlers.js';

/** One peer's values, as the gauges take them. */
export interface PeerSample {
  labels: { peer: string; type: string; source: string };
  up: number;
  prefixesReceived: number;
  prefixesAccepted: number;
  prefixesAdvertised: number;
  uptimeSeconds: number;
  /** Absent when the backend does not count them. */
  updatesReceived?: number;
  updatesSent?: number;
}

/**
 * The per-peer samples for one status publication: every desired peer (the
 * status lists them, also those the speaker does not know yet), with the
 * speaker's counters where it has the session. Pure.
 */
export function peerSamples(status: NodeStatus, sessions: readonly PeerStatus[] | undefined, now: Date): PeerSample[] {
  const byAddress = new Map((sessions ?? []).map((s) => [s.address, s]));
  return status.peers.map((p) => {
    const s = byAddress.get(p.address);
    const up = p.state === 'Established';
    const since = p.since !== undefined ? Date.parse(p.since) : NaN;
    const sample: PeerSample = {
      labels: { peer: p.address, type: p.type, source: p.source },
      up: up ? 1 : 0,
      prefixesReceived: p.received,
      prefixesAccepted: s?.prefixesAccepted ?? 0,
      prefixesAdvertised: p.advertised,
      uptimeSeconds: up && Number.isFinite(since) ? Math.max(0, (now.getTime() - since) / 1000) : 0,
    };
    if (s?.updatesReceived !== undefined) sample.updatesReceived = s.updatesReceived;
    if (s?.updatesSent !== undefined) sample.updatesSent = s.updatesSent;
    return sample;
  });
}

const PEER_LABELS = ['peer', 'type', 'source'] as const;
const CNI = [0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class AgentMetrics {
  readonly registry = new Registry();
  private routesSource: () => number = () => 0;
  private readonly peerUp;
  private readonly peerReceived;
  private readonly peerAccepted;
  private readonly peerAdvertised;
  private readonly peerUptime;
  private readonly peerUpdatesReceived;
  private readonly peerUpdatesSent;
  private readonly resync;
  private readonly kernelErrors;
  private readonly cniSeconds;
  private readonly cniFailures;
  /** Records one etcd call (the connect() observer). */
  readonly etcd: (seconds: number, error: TerraceError | undefined) => void;
  private readonly reconcileSeconds;
  private readonly reconcileLag;
  /** Full resyncs completed (readiness: the first sync is done). */
  resyncs = 0;
  /** Told after each full resync (liveness). */
  onResync: (() => void) | undefined;

  constructor(node: string, backend: () => string) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ node });
    collectDefaultMetrics({ register: this.registry });
    const peerGauge = (name: string, help: string): Gauge<(typeof PEER_LABELS)[number] | 'backend'> =>
      new Gauge({ name, help, labelNames: [...PEER_LABELS, 'backend'], registers });
    this.peerUp = peerGauge('terrace_bgp_peer_up', 'BGP session to the peer is Established (1) or not (0); one series per desired peer');
    this.peerReceived = peerGauge('terrace_bgp_peer_prefixes_received', 'Prefixes received from the peer (before import policy)');
    this.peerAccepted = peerGauge('terrace_bgp_peer_prefixes_accepted', 'Prefixes received from the peer and accepted by import policy');
    this.peerAdvertised = peerGauge('terrace_bgp_peer_prefixes_advertised', 'Prefixes advertised to the peer');
    this.peerUptime = peerGauge('terrace_bgp_peer_uptime_seconds', 'Seconds since the session was established; 0 while it is down');
    this.peerUpdatesReceived = peerGauge('terrace_bgp_peer_updates_received', 'UPDATEs received from the peer since the session (GoBGP: messages; BIRD: route updates)');
    this.peerUpdatesSent = peerGauge('terrace_bgp_peer_updates_sent', 'UPDATEs sent to the peer since the session (GoBGP: messages; BIRD: route updates accepted for export)');
    const routes = (): number => this.routesSource();
    new Gauge({
      name: 'terrace_route_sync_routes',
      help: 'Routes of the agent\'s protocol route sync keeps in the kernel (learned routes, blackholes, pod host routes)',
      registers,
      collect() {
        this.set(routes());
      },
    });
    this.resync = new Histogram({ name: 'terrace_route_table_resync_seconds', help: 'Duration of a full kernel route resync (read, plan, apply)', buckets: SHORT.concat([10]), registers });
    this.kernelErrors = new Counter({ name: 'terrace_route_sync_kernel_errors_total', help: 'Route changes the kernel refused (retried by the next resync)', registers });
    this.cniSeconds = new Histogram({ name: 'terrace_cni_request_duration_seconds', help: 'Agent-side time of a CNI command', labelNames: ['command'], buckets: CNI, registers });
    this.cniFailures = new Counter({ name: 'terrace_cni_failures_total', help: 'Failed CNI commands by the CNI error code the plugin returned', labelNames: ['command', 'code'], registers });
    this.etcd = etcdRequestMetrics(this.registry);
    this.reconcileSeconds = new Histogram({ name: 'terrace_agent_reconcile_seconds', help: 'Duration of a reconcile pass (peers, announcements)', buckets: SHORT, registers });
    this.reconcileLag = new Histogram({ name: 'terrace_agent_reconcile_lag_seconds', help: 'Time from an etcd change seen by the agent\'s watch to the end of the pass that applied it', buckets: SHORT, registers });
    this.backend = backend;
  }

  private readonly backend: () => string;

  /** What route sync holds (read at scrape time). */
  countRoutesWith(source: () => number): void {
    this.routesSource = source;
  }

  readonly routeSync: RouteSyncObserver = {
    resynced: (r: ResyncReport) => {
      this.resyncs++;
      this.resync.observe(r.durationMs / 1000);
      this.onResync?.();
    },
    kernelErrors: (n: number) => this.kernelErrors.inc(n),
  };

  cni(e: CniEvent): void {
    // Recorded DELs replayed later are not a runtime's call.
    if (e.command === 'DEL (recorded)') return;
    this.cniSeconds.observe({ command: e.command }, e.ms / 1000);
    if (!e.ok) this.cniFailures.inc({ command: e.command, code: String(e.code ?? 999) });
  }

  reconciled(seconds: number, lagSeconds: number | undefined): void {
    this.reconcileSeconds.observe(seconds);
    if (lagSeconds !== undefined) this.reconcileLag.observe(lagSeconds);
  }

  /** Replaces the per-peer series: peers that went away disappear. */
  peers(samples: readonly PeerSample[]): void {
    const gauges = [this.peerUp, this.peerReceived, this.peerAccepted, this.peerAdvertised, this.peerUptime, this.peerUpdatesReceived, this.peerUpdatesSent];
    for (const g of gauges) g.reset();
    const backend = this.backend();
    for (const s of samples) {
      const l = { ...s.labels, backend };
      this.peerUp.set(l, s.up);
      this.peerReceived.set(l, s.prefixesReceived);
      this.peerAccepted.set(l, s.prefixesAccepted);
      this.peerAdvertised.set(l, s.prefixesAdvertised);
      this.peerUptime.set(l, s.uptimeSeconds);
      if (s.updatesReceived !== undefined) this.peerUpdatesReceived.set(l, s.updatesReceived);
      if (s.updatesSent !== undefined) this.peerUpdatesSent.set(l, s.updatesSent);
    }
  }
}
