/**
 * The etcd request families both daemons export, fed by the observer that
 * connect() takes (@terrace/datastore ConnectOptions.observe): every unary
 * call, retries included; watch streams are not requests.
 */
import type { TerraceError } from '@terrace/api';
import { Counter, Histogram, type Registry } from 'prom-client';

export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Registers the families on `registry` and returns the observer to give connect(). */
export function etcdRequestMetrics(registry: Registry): (seconds: number, error: TerraceError | undefined) => void {
  const registers = [registry];
  const seconds = new Histogram({
    name: 'terrace_etcd_request_duration_seconds',
    help: 'Duration of an etcd request (one unary call, retries on other endpoints included)',
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const errors = new Counter({ name: 'terrace_etcd_request_errors_total', help: 'Failed etcd requests by Terrace error code (Unavailable: unreachable or timed out)', labelNames: ['code'], registers });
  return (s, error) => {
    seconds.observe(s);
    if (error) errors.inc({ code: error.code });
  };
}
