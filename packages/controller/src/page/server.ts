/**
 * The status page's HTTP server (`--status-listen HOST:PORT`): the page
 * itself (static HTML, CSS and JS shipped in the package's `page/`
 * directory), its state as JSON at /api/state, and the same state as
 * server-sent events at /api/stream, one `state` event per change.
 *
 * Read-only: GET and HEAD only, nothing it serves can change the cluster.
 * It has no authentication, so bind it to loopback (or a namespace of its
 * own) and reach it through an ssh tunnel; see docs/operations.md.
 */
import { readFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { TerraceError } from '@terrace/api';
import type { Keys } from '@terrace/datastore';
import type { Logger } from '@terrace/log';
import type { Etcd3 } from 'etcd3';
import { PageSource } from './source.js';
import type { PageState } from './state.js';

/** The shipped assets: packages/controller/page/, found from dist/src/page/. */
const ASSET_DIR = fileURLToPath(new URL('../../../page/', import.meta.url));

const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/page.css': { file: 'page.css', type: 'text/css; charset=utf-8' },
  '/page.js': { file: 'page.js', type: 'text/javascript; charset=utf-8' },
};

/** A comment line on every open stream this often, so proxies and browsers keep it. */
const KEEPALIVE_MS = 15_000;

/**
 * Open streams at most; one more is answered 503. Each holds up to a frame
 * (about a megabyte at 1,000 nodes) in the controller's memory.
 */
export const MAX_STREAMS = 32;

const HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
};

export interface StatusPageOptions {
  etcd: Etcd3;
  keys: Keys;
  log: Logger;
  listen: { host: string; port: number };
  /** This controller's identity, and whether it leads now (shown in the header). */
  servedBy: string;
  leading: () => boolean;
  /** Passed to PageSource (tests shorten them). */
  debounceMs?: number;
  tickMs?: number;
}

export class StatusPage {
  private readonly source: PageSource;
  private readonly server: Server;
  private readonly streams = new Set<ServerResponse>();
  private readonly assets = new Map<string, Buffer>();
  private keepalive: NodeJS.Timeout | undefined;

  constructor(private readonly opts: StatusPageOptions) {
    this.source = new PageSource({
      etcd: opts.etcd,
      keys: opts.keys,
      log: opts.log,
      servedBy: opts.servedBy,
      leading: opts.leading,
      viewing: () => this.streams.size > 0,
      ...(opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {}),
      ...(opts.tickMs !== undefined ? { tickMs: opts.tickMs } : {}),
    });
    for (const { file } of Object.values(ASSETS)) this.assets.set(file, readFileSync(ASSET_DIR + file));
    this.server = createServer((req, res) => this.handle(req, res));
  }

  /** Lists etcd, then listens; rejects with a one-line error when the address cannot be bound. */
  async start(): Promise<void> {
    await this.source.start();
    this.source.on('state', (s) => this.broadcast(s));
    const { host, port } = this.opts.listen;
    try {
      await new Promise<void>((resolve, reject) => {
        const fail = (e: Error): void => reject(new TerraceError('Invalid', `flag --status-listen: cannot listen on ${host}:${port}: ${e.message}`));
        this.server.once('error', fail);
        this.server.listen(port, host, () => {
          this.server.off('error', fail);
          resolve();
        });
      });
    } catch (e) {
      await this.source.close();
      throw e;
    }
    this.keepalive = setInterval(() => {
      for (const r of this.streams) this.send(r, ': keepalive\n\n');
    }, KEEPALIVE_MS);
    this.opts.log.info('status page listening', { url: this.url() });
  }

  url(): string {
    const a = this.server.address() as AddressInfo;
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/`;
  }

  /** Streams open now. */
  openStreams(): number {
    return this.streams.size;
  }

  /** How many times the state was built (see PageSource.builds). */
  builds(): number {
    return this.source.builds;
  }

  async stop(): Promise<void> {
    if (this.keepalive) clearInterval(this.keepalive);
    for (const r of this.streams) r.end();
    this.streams.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.source.close();
  }

  private broadcast(state: PageState): void {
    if (this.streams.size === 0) return;
    const frame = `event: state\ndata: ${JSON.stringify(state)}\n\n`;
    for (const r of this.streams) this.send(r, frame);
  }

  /**
   * Writes to one stream unless it has not taken the previous write yet:
   * a client that stopped reading would make us keep every frame for it
   * (the whole state, each time it changes). Such a stream is closed; a
   * browser's EventSource reconnects and starts from the state then.
   */
  private send(r: ServerResponse, text: string): void {
    if (r.writableNeedDrain) {
      this.streams.delete(r);
      r.destroy();
      return;
    }
    r.write(text);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...HEADERS, allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('read-only: GET only\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const asset = ASSETS[path === '/index.html' ? '/' : path];
    if (asset) {
      res.writeHead(200, { ...HEADERS, 'content-type': asset.type }).end(req.method === 'HEAD' ? undefined : this.assets.get(asset.file));
    } else if (path === '/api/state') {
      res.writeHead(200, { ...HEADERS, 'content-type': 'application/json' }).end(req.method === 'HEAD' ? undefined : `${JSON.stringify(this.source.current())}\n`);
    } else if (path === '/api/stream') {
      if (this.streams.size >= MAX_STREAMS) {
        res.writeHead(503, { ...HEADERS, 'retry-after': '10', 'content-type': 'text/plain' }).end(`too many open streams (${MAX_STREAMS})\n`);
        return;
      }
      res.writeHead(200, { ...HEADERS, 'content-type': 'text/event-stream', connection: 'keep-alive' });
      res.write(`retry: 2000\nevent: state\ndata: ${JSON.stringify(this.source.current())}\n\n`);
      this.streams.add(res);
      req.on('close', () => this.streams.delete(res));
    } else {
      res.writeHead(404, { ...HEADERS, 'content-type': 'text/plain' }).end('not found\n');
    }
  }
}
