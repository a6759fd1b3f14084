/**
 * A read-only etcd v3 client over etcd's JSON gateway (`POST /v3/kv/range`),
 * built on node:http and node:https alone. It exists for cold-start speed:
 * the etcd3 package loads grpc-js and parses etcd's protos at import time,
 * several hundred milliseconds that a one-shot read such as `terracectl get`
 * should not pay. Writers, watchers and leases keep using etcd3 (client.ts).
 *
 * It keeps connect()'s fail-fast contract: endpoints are tried in order,
 * each with its share of one overall budget (default 4.5 s), and anything
 * that is not an answer from etcd (refused, timed out, TLS failure, a
 * server that is not etcd) is an Unavailable TerraceError naming the
 * endpoint and the reason. Credentials are exchanged for a token at
 * `/v3/auth/authenticate`, sent as the `Authorization` header. Reads are
 * linearizable, as etcd3's are. The gateway is on by default in etcd 3.4+
 * (`--enable-grpc-gateway`); an etcd without it answers 404, reported as
 * Unavailable like any other server that is not etcd.
 */
import type { Agent as HttpAgent, IncomingMessage, RequestOptions } from 'node:http';
import { readFileSync } from 'node:fs';
import { type Kind, type ResourceOf, TerraceError, monotonicMs, resourceRef } from '@terrace/api';
import type { ConnectionConfig } from './config.js';
import { Keys } from './keys.js';
import { decodeStoredResource } from './resource-json.js';
import { tlsFailure } from './tls-reason.js';
import type { ListResult, ResourceStore } from './store.js';

export interface HttpKvOptions {
  /**
   * Upper bound on one read, in ms, across all endpoints (including
   * authentication). Default 4500, so that "unreachable" is reported within 5 s.
   */
  timeoutMs?: number;
}

export const HTTP_KV_DEFAULT_TIMEOUT_MS = 4500;
/** The least one endpoint is given, however many endpoints share the budget. */
const MIN_ATTEMPT_MS = 500;

/** One key-value as the gateway returns it, decoded. */
export interface HttpKeyValue {
  key: string;
  value: string;
  modRevision: string;
  createRevision: string;
}

export interface HttpRangeResult {
  /** The store revision the range was read at. */
  revision: string;
  kvs: HttpKeyValue[];
}

/** The gateway's JSON (int64 fields arrive as strings; zero values are omitted). */
interface RangeBody {
  header?: { revision?: string };
  kvs?: { key?: string; value?: string; mod_revision?: string; create_revision?: string }[];
}
interface AuthBody {
  header?: unknown;
  token?: string;
}
/** grpc-gateway's error body: the gRPC status code and message. */
interface GatewayError {
  code: number;
  message: string;
}

/** gRPC status codes the mapping below distinguishes. */
const GRPC = { DeadlineExceeded: 4, PermissionDenied: 7, Unavailable: 14, Unauthenticated: 16 } as const;

/** An endpoint that gave no etcd answer: the caller moves on to the next one. */
class EndpointDown extends Error {}

/** The endpoint did not answer before the attempt's deadline. */
class EndpointSilent extends EndpointDown {}

/** The smallest key greater than every key that starts with `prefix` (etcd's range_end for a prefix). */
export function prefixRangeEnd(prefix: string | Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  // Every byte is 0xff: the range runs to the end of the keyspace.
  return Buffer.from([0]);
}

const b64 = (v: string | Buffer): string => Buffer.from(v).toString('base64');
const unb64 = (v: string | undefined): string => Buffer.from(v ?? '', 'base64').toString('utf8');

function readTlsFile(setting: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new TerraceError('Invalid', `etcd ${setting} file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function gatewayError(v: unknown): GatewayError | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const { code, message, error } = v as Record<string, unknown>;
  if (typeof code !== 'number') return undefined;
  const text = typeof message === 'string' ? message : typeof error === 'string' ? error : '';
  return { code, message: text };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export class HttpKv {
  /** The endpoint that answered last; tried first next time. */
  private preferred = 0;
  private token: string | undefined;

  private constructor(
    private readonly cfg: ConnectionConfig,
    private readonly request: typeof import('node:http').request,
    private readonly agent: HttpAgent,
    private readonly timeoutMs: number,
  ) {}

  /**
   * A client for cfg; reads the TLS files now (a missing file is Invalid)
   * but makes no call. node:https is loaded only for https:// endpoints.
   */
  static async open(cfg: ConnectionConfig, opts: HttpKvOptions = {}): Promise<HttpKv> {
    const timeoutMs = opts.timeoutMs ?? HTTP_KV_DEFAULT_TIMEOUT_MS;
    if (cfg.endpoints.every((e) => e.startsWith('http:'))) {
      const http = await import('node:http');
      return new HttpKv(cfg, http.request, new http.Agent({ keepAlive: true }), timeoutMs);
    }
    const https = await import('node:https');
    const tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
    // Without a CA file Node's bundled roots apply, as with the etcd3 client.
    if (cfg.ca !== undefined) tls.ca = readTlsFile('CA', cfg.ca);
    if (cfg.cert !== undefined && cfg.key !== undefined) {
      tls.cert = readTlsFile('client certificate', cfg.cert);
      tls.key = readTlsFile('client key', cfg.key);
    }
    return new HttpKv(cfg, https.request, new https.Agent({ keepAlive: true, ...tls }), timeoutMs);
  }

  get endpoints(): readonly string[] {
    return this.cfg.endpoints;
  }

  /** Reads `key`, or every key in [key, rangeEnd) when rangeEnd is given. */
  async range(key: string, rangeEnd?: string | Buffer): Promise<HttpRangeResult> {
    const body: Record<string, string> = { key: b64(key) };
    if (rangeEnd !== undefined) body.range_end = b64(rangeEnd);
    const res = (await this.call('/v3/kv/range', body)) as RangeBody;
    return {
      revision: res.header?.revision ?? '0',
      kvs: (res.kvs ?? []).map((kv) => ({
        key: unb64(kv.key),
        value: unb64(kv.value),
        modRevision: kv.mod_revision ?? '0',
        createRevision: kv.create_revision ?? '0',
      })),
    };
  }

  /** Reads every key that starts with `prefix`. */
  rangePrefix(prefix: string): Promise<HttpRangeResult> {
    return this.range(prefix, prefixRangeEnd(prefix));
  }

  /** Drops kept-alive connections; the client must not be used afterwards. */
  close(): void {
    this.agent.destroy();
  }

  /** One gateway call, moving through the endpoints until one answers. */
  private async call(path: string, body: object): Promise<unknown> {
    const eps = this.cfg.endpoints;
    // One clock reading per attempt: the first endpoint gets exactly its share.
    let now = monotonicMs();
    const deadline = now + this.timeoutMs;
    const share = Math.max(MIN_ATTEMPT_MS, Math.floor(this.timeoutMs / eps.length));
    const failures: string[] = [];
    for (let n = 0; n < eps.length; n++, now = monotonicMs()) {
      const i = (this.preferred + n) % eps.length;
      const ep = eps[i] as string;
      const budget = Math.min(share, deadline - now);
      if (budget <= 0) break;
      try {
        const out = await this.callEndpoint(ep, path, body, now + budget);
        this.preferred = i;
        return out;
      } catch (e) {
        if (!(e instanceof EndpointDown)) throw e;
        // The time this endpoint was given, not what was left of it when the
        // request went out (a millisecond later, 2249 of 2250).
        failures.push(`${ep}: ${e instanceof EndpointSilent ? `no answer within ${budget} ms` : e.message}`);
      }
    }
    throw new TerraceError('Unavailable', `etcd unreachable at ${failures.join('; ')}`);
  }

  /** Authenticates first when credentials are set; retries once with a fresh token if etcd dropped ours. */
  private async callEndpoint(ep: string, path: string, body: object, deadline: number): Promise<unknown> {
    const { username, password } = this.cfg;
    if (username === undefined || password === undefined) return this.post(ep, path, body, deadline, undefined);
    const reused = this.token !== undefined;
    this.token ??= await this.authenticate(ep, username, password, deadline);
    try {
      return await this.post(ep, path, body, deadline, this.token);
    } catch (e) {
      if (!(reused && e instanceof TerraceError && e.message.includes('invalid auth token'))) throw e;
      this.token = await this.authenticate(ep, username, password, deadline);
      return this.post(ep, path, body, deadline, this.token);
    }
  }

  private async authenticate(ep: string, name: string, password: string, deadline: number): Promise<string> {
    let res: AuthBody;
    try {
      res = (await this.post(ep, '/v3/auth/authenticate', { name, password }, deadline, undefined)) as AuthBody;
    } catch (e) {
      // Credentials for an etcd without auth are harmless, as with the etcd3 client: read without a token.
      if (e instanceof TerraceError && e.message.includes('authentication is not enabled')) return '';
      throw e;
    }
    return typeof res.token === 'string' ? res.token : '';
  }

  /** POSTs JSON to one endpoint; resolves with etcd's answer or throws EndpointDown / a TerraceError. */
  private post(ep: string, path: string, body: object, deadline: number, token: string | undefined): Promise<unknown> {
    const payload = JSON.stringify(body);
    const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
    if (token) headers.authorization = token;
    const options: RequestOptions = { method: 'POST', agent: this.agent, headers };
    const ms = Math.max(1, deadline - monotonicMs());
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (f: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        f();
      };
      const req = this.request(new URL(path, ep), options, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => settle(() => reject(new EndpointDown(e.message))));
        res.on('end', () =>
          settle(() => {
            try {
              resolve(interpret(ep, res, Buffer.concat(chunks).toString('utf8')));
            } catch (e) {
              reject(e);
            }
          }),
        );
      });
      const timer = setTimeout(() => {
        settle(() => reject(new EndpointSilent(`no answer within ${ms} ms`)));
        req.destroy();
      }, ms);
      req.on('error', (e) => settle(() => reject(new EndpointDown(socketErrorReason(e)))));
      req.end(payload);
    });
  }
}

/** A socket or TLS failure in one line: OpenSSL's messages carry a file path and line number, its `reason` does not. */
function socketErrorReason(e: Error & { code?: string; reason?: string }): string {
  const ssl = e.code?.startsWith('ERR_SSL_') === true && typeof e.reason === 'string';
  const why = ssl ? (e.reason as string) : (e.message.split('\n')[0] as string);
  return tlsFailure(why) ?? (ssl ? `TLS handshake failed: ${why}` : why);
}

/** Turns one HTTP answer into etcd's response, or the error it stands for. */
function interpret(ep: string, res: IncomingMessage, text: string): unknown {
  const status = res.statusCode ?? 0;
  const json = parseJson(text);
  if (status >= 200 && status < 300 && json !== null && typeof json === 'object' && 'header' in json) return json;
  const err = gatewayError(json);
  if (!err) {
    // Not etcd's gateway at all: a wrong port, a proxy, another service.
    throw new EndpointDown(`answered HTTP ${status} ${res.statusMessage ?? ''}`.trimEnd() + ' without an etcd v3 response (is this an etcd client URL?)');
  }
  const msg = err.message;
  if (/user name is empty/.test(msg)) {
    throw new TerraceError('Unavailable', `etcd at ${ep} requires a username and password (set --etcd-username and --etcd-password)`);
  }
  if (err.code === GRPC.Unauthenticated || /authentication failed/.test(msg)) {
    throw new TerraceError('Unavailable', `etcd at ${ep} refused the credentials: ${msg}`);
  }
  if (err.code === GRPC.PermissionDenied) throw new TerraceError('Unavailable', `etcd at ${ep} denied access: ${msg}`);
  // A member without a leader or one that timed out: another member may do better.
  if (err.code === GRPC.Unavailable || err.code === GRPC.DeadlineExceeded) throw new EndpointDown(msg);
  throw new TerraceError('Internal', `etcd at ${ep}: ${msg}`);
}

/**
 * The read half of ResourceStore over HttpKv: resources come back exactly
 * as EtcdResourceStore returns them (same decoding, same filtering).
 */
export class HttpResourceReader implements Pick<ResourceStore, 'get' | 'list'> {
  constructor(
    private readonly kv: HttpKv,
    private readonly keys: Keys,
  ) {}

  /** A reader for cfg's endpoints and cluster. */
  static async open(cfg: ConnectionConfig, opts: HttpKvOptions = {}): Promise<HttpResourceReader> {
    return new HttpResourceReader(await HttpKv.open(cfg, opts), new Keys(cfg.cluster));
  }

  get endpoints(): readonly string[] {
    return this.kv.endpoints;
  }

  async get<K extends Kind>(kind: K, name: string): Promise<ResourceOf<K>> {
    const key = this.keys.resource(kind, name);
    const kv = (await this.kv.range(key)).kvs[0];
    if (!kv) throw new TerraceError('NotFound', `${resourceRef(kind, name)} not found`, { resource: resourceRef(kind, name) });
    return decodeStoredResource(kv.key, kv.value, kv.modRevision) as ResourceOf<K>;
  }

  async list<K extends Kind>(kind: K): Promise<ListResult<K>> {
    const { revision, kvs } = await this.kv.rangePrefix(this.keys.resourcePrefix(kind));
    // Only direct children: a name never holds '/', so deeper keys are not ours.
    const items = kvs
      .filter((kv) => this.keys.parseResource(kv.key)?.kind === kind)
      .map((kv) => decodeStoredResource(kv.key, kv.value, kv.modRevision) as ResourceOf<K>);
    return { items, revision };
  }

  close(): void {
    this.kv.close();
  }
}
