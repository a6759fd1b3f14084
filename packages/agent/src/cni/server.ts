/**
 * The CNI server on a root-only unix socket: plain HTTP/1.1, so that the
 * plugin can be a shell script around curl (packages/cni/src/protocol.ts has
 * the contract). The socket is bound under a temporary name, made 0600 and
 * renamed into place, so there is no moment at which anyone but root could
 * connect to it.
 */
import { chmod, rename, rm, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import { TerraceError } from '@terrace/api';
import { CNI_HTTP_PATH, CniCode, CniError, DEFAULT_AGENT_SOCKET, ERROR_STATUS, MAX_CONFIG_BYTES, REQUEST_ID_HEADER, envFromQuery } from '@terrace/cni';
import { CniHandlers, type CniAnswer, type CniHandlerOptions } from './handlers.js';
import { prepareSocketDir } from './socket-dir.js';

export interface CniServerOptions extends CniHandlerOptions {
  /** Default /run/terrace/cni.sock. */
  socketPath?: string;
}

export interface CniServer {
  readonly socketPath: string;
  readonly handlers: CniHandlers;
  /** Stops accepting calls, lets running ones finish (up to 5 s), removes the socket. */
  close(): Promise<void>;
}

/** A body larger than this is not even read to the end: the connection is closed. */
const DRAIN_LIMIT = 64 * MAX_CONFIG_BYTES;

type Body = { ok: true; bytes: Uint8Array } | { ok: false; error: CniError };

/** Reads the body up to MAX_CONFIG_BYTES; past that it keeps reading (and dropping) so that the answer reaches the plugin. */
function readBody(req: IncomingMessage): Promise<Body> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_CONFIG_BYTES) chunks.push(c);
      else if (size > DRAIN_LIMIT) req.destroy();
    });
    req.on('error', () => undefined);
    req.on('close', () => {
      if (size > MAX_CONFIG_BYTES) {
        const error = new CniError(CniCode.InvalidConfig, `network config: ${size} bytes is more than the ${MAX_CONFIG_BYTES} the terrace plugin accepts`);
        resolve({ ok: false, error });
      } else resolve({ ok: true, bytes: Buffer.concat(chunks) });
    });
  });
}

function send(res: ServerResponse, a: CniAnswer): void {
  const body = a.stdout === '' ? '' : a.stdout + '\n';
  res.writeHead(a.ok ? 200 : ERROR_STATUS, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function removeStale(path: string): Promise<void> {
  try {
    const st = await stat(path);
    if (!st.isSocket()) throw new TerraceError('Invalid', `cni socket ${path}: exists and is not a socket`, { field: 'socketPath' });
    await rm(path, { force: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** Starts serving CNI requests; resolves once the socket accepts calls. */
export async function startCniServer(opts: CniServerOptions): Promise<CniServer> {
  const socketPath = opts.socketPath ?? DEFAULT_AGENT_SOCKET;
  // Before anything starts: a directory others can write is refused, not fixed.
  await prepareSocketDir(dirname(socketPath));
  const handlers = new CniHandlers(opts);
  await handlers.start();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://terrace-agent');
    if (req.method !== 'POST' || url.pathname !== CNI_HTTP_PATH) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`terrace-agent serves only POST ${CNI_HTTP_PATH}\n`);
      return;
    }
    const env = envFromQuery(url.searchParams);
    const id = handlers.requestId(env, req.headers[REQUEST_ID_HEADER]);
    void readBody(req)
      .then((body) => (body.ok ? handlers.invoke(env, body.bytes, id) : handlers.refuse(body.error, undefined, id)))
      .then((answer) => send(res, answer));
  });
  // A runtime's call may take as long as its configured timeout; never cut it here.
  server.requestTimeout = 0;
  server.headersTimeout = 10_000;

  await removeStale(socketPath);
  const tmp = `${socketPath}.${process.pid}.tmp`;
  await rm(tmp, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(tmp, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((e: unknown) => {
    throw new TerraceError('Unavailable', `cni socket ${socketPath}: cannot listen: ${(e as Error).message}`, { cause: e });
  });
  try {
    await chmod(tmp, 0o600);
    await rename(tmp, socketPath);
  } catch (e) {
    server.close();
    await rm(tmp, { force: true });
    throw e;
  }

  return {
    socketPath,
    handlers,
    async close() {
      await rm(socketPath, { force: true });
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.closeAllConnections();
          resolve();
        }, 5000);
        server.close(() => {
          clearTimeout(t);
          resolve();
        });
        server.closeIdleConnections();
      });
      handlers.stop();
    },
  };
}
