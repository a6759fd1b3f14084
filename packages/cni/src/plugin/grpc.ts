/**
 * One unary gRPC call over HTTP/2 on a unix socket, with node:http2 alone:
 * a request is one length-prefixed message (1 byte "compressed" = 0, 4 bytes
 * big-endian length), the answer likewise, and the outcome is the
 * grpc-status trailer (or header, for a trailers-only answer). This is all
 * the plugin needs, and it loads in a fraction of @grpc/grpc-js's time.
 */
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { connect as netConnect } from 'node:net';

/** The agent could not be reached at all (no socket, nobody listening, no permission). */
export class UnreachableError extends Error {
  constructor(
    readonly errno: string,
    message: string,
  ) {
    super(message);
    this.name = 'UnreachableError';
  }
}

/** The call did not finish in time. */
export class DeadlineError extends Error {
  override name = 'DeadlineError';
}

/** The call ended with a gRPC status other than OK. */
export class GrpcStatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'GrpcStatusError';
  }
}

export const GRPC_UNAVAILABLE = 14;
export const GRPC_DEADLINE_EXCEEDED = 4;

function frame(msg: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + msg.length);
  out[0] = 0;
  out.writeUInt32BE(msg.length, 1);
  out.set(msg, 5);
  return out;
}

function statusOf(h: IncomingHttpHeaders): { status: number; message: string } | undefined {
  const s = h['grpc-status'];
  if (s === undefined) return undefined;
  const raw = Array.isArray(s) ? s[0] : s;
  const m = h['grpc-message'];
  let message = typeof m === 'string' ? m : '';
  try {
    message = decodeURIComponent(message);
  } catch {
    // keep it as sent
  }
  return { status: Number(raw), message };
}

/**
 * Calls `path` (e.g. /terrace.agent.v1.CniService/Add) with one message and
 * returns the one message of the answer.
 */
export function unaryCall(socketPath: string, path: string, request: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
  return new Promise<Uint8Array>((resolve, reject) => {
    let session: ClientHttp2Session | undefined;
    let settled = false;
    const finish = (err: Error | undefined, value?: Uint8Array): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session?.destroy();
      if (err) reject(err);
      else resolve(value ?? new Uint8Array());
    };
    const timer = setTimeout(() => finish(new DeadlineError(`no answer from the agent within ${timeoutMs} ms`)), timeoutMs);

    const sock = netConnect(socketPath);
    sock.once('error', (e: NodeJS.ErrnoException) => {
      finish(new UnreachableError(e.code ?? 'EIO', `cannot reach the terrace agent at ${socketPath}: ${e.code ?? e.message}`));
    });
    session = connect('http://localhost', { createConnection: () => sock });
    session.on('error', (e: NodeJS.ErrnoException) => {
      finish(new UnreachableError(e.code ?? 'EIO', `cannot reach the terrace agent at ${socketPath}: ${e.code ?? e.message}`));
    });

    const req = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': `${Math.max(1, Math.ceil(timeoutMs))}m`,
    });
    const chunks: Buffer[] = [];
    let status: { status: number; message: string } | undefined;
    req.on('response', (h) => {
      const httpStatus = h[':status'];
      if (httpStatus !== 200) {
        finish(new GrpcStatusError(2, `the agent answered HTTP ${String(httpStatus)}`));
        return;
      }
      status = statusOf(h); // a trailers-only answer carries the status here
    });
    req.on('trailers', (h) => {
      status = statusOf(h) ?? status;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', (e: NodeJS.ErrnoException) => {
      finish(new UnreachableError(e.code ?? 'EIO', `the call to the terrace agent failed: ${e.message}`));
    });
    req.on('end', () => {
      if (!status) {
        finish(new GrpcStatusError(2, 'the agent closed the call without a grpc-status'));
        return;
      }
      if (status.status !== 0) {
        finish(new GrpcStatusError(status.status, status.message || `gRPC status ${status.status}`));
        return;
      }
      const body = Buffer.concat(chunks);
      if (body.length < 5 || body[0] !== 0) {
        finish(new GrpcStatusError(2, 'the agent sent no (or a compressed) message'));
        return;
      }
      const len = body.readUInt32BE(1);
      if (body.length < 5 + len) {
        finish(new GrpcStatusError(2, 'the agent sent a truncated message'));
        return;
      }
      finish(undefined, body.subarray(5, 5 + len));
    });
    req.end(frame(request));
  });
}
