/**
 * The agent's metrics and health endpoint, put together for main.ts: the
 * metrics registry, etcd reachability (fed by every etcd call), the loops
 * /healthz watches, and the HTTP server. The server starts before anything
 * else so that a port in use fails the start at once.
 */
import { EtcdReachability, type EtcdCallObserver } from '@terrace/datastore';
import { type ListenAddress, LoopBeat, type MetricsServer, startMetricsServer } from '@terrace/log';
import type { AgentConfig } from './config.js';
import { agentReadiness } from './health.js';
import { AgentMetrics } from './metrics.js';
import type { NodeAgent } from './node-agent.js';

export const STATUS_LOOP = 'status-publisher';
export const ROUTE_SYNC_LOOP = 'route-sync';

export interface AgentEndpoint {
  metrics: AgentMetrics;
  etcd: EtcdReachability;
  /** The observer to give connect(): metrics and reachability. */
  observe: EtcdCallObserver;
  beat: LoopBeat;
  server: MetricsServer;
  /** Hands the running agent to the readiness checks and starts watching its loops. */
  attach(agent: NodeAgent): void;
}

export async function serveAgentMetrics(listen: ListenAddress, config: AgentConfig): Promise<AgentEndpoint> {
  let agent: NodeAgent | undefined;
  const backend = (): string => {
    try {
      return agent?.speaker.backend ?? config.bgpBackend;
    } catch {
      return config.bgpBackend;
    }
  };
  const metrics = new AgentMetrics(config.nodeName, backend);
  const etcd = new EtcdReachability();
  const beat = new LoopBeat();
  const server = await startMetricsServer(listen, {
    registry: metrics.registry,
    healthz: () => (agent?.started ? beat.checks() : [{ name: 'start', ok: true, detail: 'starting' }]),
    readyz: () =>
      agentReadiness({
        etcd,
        started: () => agent?.started === true,
        resyncs: () => metrics.resyncs,
        sessions: () => agent?.sessionsForReadiness() ?? Promise.resolve(undefined),
      }),
  });
  const observe: EtcdCallObserver = (seconds, error) => {
    metrics.etcd(seconds, error);
    etcd.observe(seconds, error);
  };
  return {
    metrics,
    etcd,
    observe,
    beat,
    server,
    attach(a) {
      agent = a;
      // A publisher turn is due every status interval; a resync every resync interval.
      beat.add(STATUS_LOOP, Math.max(30_000, 10 * config.statusIntervalMs));
      beat.add(ROUTE_SYNC_LOOP, 3 * config.resyncIntervalMs + 60_000);
      metrics.onResync = () => beat.beat(ROUTE_SYNC_LOOP);
    },
  };
}
