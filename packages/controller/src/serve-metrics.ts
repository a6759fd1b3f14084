/**
 * The controller's metrics and health endpoint, put together for main.ts.
 * Ready: etcd answers and the controller takes part in the election (it
 * leads, or it stands by behind a leader it can see). Alive: the leader's
 * reconcile passes keep coming (a standby has no passes to watch).
 */
import { EtcdReachability, type EtcdCallObserver } from '@terrace/datastore';
import { type CheckResult, type ListenAddress, LoopBeat, type MetricsServer, startMetricsServer } from '@terrace/log';
import type { Controller } from './controller.js';
import type { ControllerMetrics } from './metrics.js';

export const PASS_LOOP = 'reconcile-pass';

/** The election check from what the controller knows. Pure. */
export function electionCheck(started: boolean, leading: boolean, leader: string | undefined): CheckResult {
  if (!started) return { name: 'election', ok: false, detail: 'not campaigning yet (starting)' };
  if (leading) return { name: 'election', ok: true, detail: 'leader' };
  if (leader !== undefined) return { name: 'election', ok: true, detail: `standby; leader is ${leader}` };
  return { name: 'election', ok: false, detail: 'campaigning; no leader known' };
}

export interface ControllerEndpoint {
  etcd: EtcdReachability;
  server: MetricsServer;
  /** Hands over the controller and its metrics (once connected) and starts watching its passes. */
  attach(controller: Controller, metrics: ControllerMetrics, intervalMs: number): void;
  /** The controller's start() has finished. */
  started(): void;
  /** The observer to give connect(): metrics (once attached) and reachability. */
  observe: EtcdCallObserver;
}

export async function serveControllerMetrics(listen: ListenAddress): Promise<ControllerEndpoint> {
  let controller: Controller | undefined;
  let metrics: ControllerMetrics | undefined;
  let running = false;
  const etcd = new EtcdReachability();
  const beat = new LoopBeat();
  // The registry exists once the controller does; until then /metrics is empty.
  const registryProxy = {
    contentType: 'text/plain; version=0.0.4; charset=utf-8',
    metrics: (): Promise<string> => metrics?.registry.metrics() ?? Promise.resolve(''),
  };
  const server = await startMetricsServer(listen, {
    registry: registryProxy,
    healthz: () => beat.checks(),
    readyz: async () => {
      const e = await etcd.check();
      return [
        { name: 'etcd', ok: e.ok, detail: e.detail },
        electionCheck(running, controller?.isLeader() === true, controller?.currentLeader()),
      ];
    },
  });
  return {
    etcd,
    server,
    observe: (seconds, error) => {
      metrics?.etcd(seconds, error);
      etcd.observe(seconds, error);
    },
    attach(c, m, intervalMs) {
      controller = c;
      metrics = m;
      beat.add(PASS_LOOP, 3 * intervalMs + 60_000);
      beat.setActive(PASS_LOOP, false);
      c.on('elected', () => beat.setActive(PASS_LOOP, true));
      c.on('lost', () => beat.setActive(PASS_LOOP, false));
      c.on('pass', () => beat.beat(PASS_LOOP));
    },
    started() {
      running = true;
    },
  };
}
