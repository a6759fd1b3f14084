/**
 * The HTTP endpoint both daemons serve for operators and kubelets:
 * `/metrics` (Prometheus text from one registry), `/healthz` (the process
 * is alive and its loops turn) and `/readyz` (a JSON body naming each
 * check). The checks belong to the daemon; this module only serves them,
 * so the endpoint behaves the same on agent and controller.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TerraceError, formatIP, invalidField, parseHostPort } from '@terrace/api';

/** Where the endpoint listens; undefined: `off`. */
export interface ListenAddress {
  host: string;
  port: number;
}

/** `HOST:PORT` (`[v6]:PORT` for IPv6) or `off`; port 0 takes a free port. */
export function parseMetricsListen(text: string, where = 'flag --metrics-listen'): ListenAddress | undefined {
  if (text.trim().toLowerCase() === 'off') return undefined;
  // parseHostPort refuses port 0, which tests use to get a free port.
  const zero = /^(.*):0$/.exec(text);
  const hp = parseHostPort(zero ? `${zero[1]}:1` : text);
  if (!hp || hp.port === undefined) throw invalidField(undefined, where, `"${text}" must be HOST:PORT ([addr]:PORT for IPv6) or off`);
  return { host: formatIP(hp.ip), port: zero ? 0 : hp.port };
}

export function formatListen(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** One named check: ok, or why not. */
export interface CheckResult {
  name: string;
  ok: boolean;
  /** Why it failed, or what it saw when it passed. */
  detail: string;
}

/** What /metrics serves: a prom-client Registry fits. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface HealthEndpoints {
  registry: MetricsSource;
  /** Liveness: checks that the daemon's loops still turn. */
  healthz: () => CheckResult[] | Promise<CheckResult[]>;
  /** Readiness: the daemon's own checks. */
  readyz: () => CheckResult[] | Promise<CheckResult[]>;
}

export interface MetricsServer {
  /** The address actually bound (the port when 0 was asked for). */
  readonly address: ListenAddress;
  close(): Promise<void>;
}

/** Serves the three paths; rejects with a one-line error naming the address when it cannot listen. */
export async function startMetricsServer(listen: ListenAddress, ep: HealthEndpoints): Promise<MetricsServer> {
  const server = createServer((req, res) => void answer(req, res, ep));
  // A scraper that keeps its connection open must not delay the daemon's exit.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      const why = e.code === 'EADDRINUSE' ? 'address already in use' : e.code === 'EADDRNOTAVAIL' ? 'no such local address' : e.code === 'EACCES' ? 'permission denied' : e.message;
      reject(new TerraceError('Unavailable', `metrics listen address ${formatListen(listen)}: ${why}`, { field: 'flag --metrics-listen' }));
    };
    server.once('error', onError);
    server.listen(listen.port, listen.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.unref();
  const bound = server.address() as AddressInfo;
  return { address: { host: listen.host, port: bound.port }, close: () => closeServer(server) };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

async function answer(req: IncomingMessage, res: ServerResponse, ep: HealthEndpoints): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'only GET\n');
  try {
    if (path === '/metrics') return send(res, 200, ep.registry.contentType, await ep.registry.metrics());
    if (path === '/healthz' || path === '/readyz') {
      const checks = await (path === '/healthz' ? ep.healthz() : ep.readyz());
      const ok = checks.every((c) => c.ok);
      return send(res, ok ? 200 : 503, 'application/json', `${JSON.stringify({ status: ok ? 'ok' : 'failing', checks })}\n`);
    }
    return send(res, 404, 'text/plain', 'not found: try /metrics, /healthz or /readyz\n');
  } catch (e) {
    return send(res, 500, 'text/plain', `${(e as Error).message}\n`);
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}
