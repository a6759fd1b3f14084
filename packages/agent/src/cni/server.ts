/**
 * The CNI gRPC server on a root-only unix socket. The socket is bound under
 * a temporary name, made 0600 and renamed into place, so there is no moment
 * at which anyone but root could connect to it.
 */
import { chmod, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { fromBinary, toBinary, create, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { DEFAULT_AGENT_SOCKET, pb } from '@terrace/cni';
import { TerraceError } from '@terrace/api';
import { toCniError } from './errors.js';
import { CniHandlers, type CniHandlerOptions } from './handlers.js';

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

type Response = MessageShape<typeof pb.CniResponseSchema>;

function ok(resultJson: string): Response {
  return create(pb.CniResponseSchema, { outcome: { case: 'resultJson', value: resultJson } });
}

function failed(e: unknown): Response {
  const err = toCniError(e);
  return create(pb.CniResponseSchema, { outcome: { case: 'error', value: { code: err.code, msg: err.message, details: err.details } } });
}

/** A grpc-js method definition for a protobuf-es schema pair. */
function method<I extends DescMessage, O extends DescMessage>(name: string, input: I, output: O): grpc.MethodDefinition<MessageShape<I>, MessageShape<O>> {
  return {
    path: `/${pb.CniService.typeName}/${name}`,
    requestStream: false,
    responseStream: false,
    requestSerialize: (m) => Buffer.from(toBinary(input, m)),
    requestDeserialize: (b) => fromBinary(input, b),
    responseSerialize: (m) => Buffer.from(toBinary(output, m)),
    responseDeserialize: (b) => fromBinary(output, b),
  };
}

const definition = {
  Add: method('Add', pb.CniRequestSchema, pb.CniResponseSchema),
  Del: method('Del', pb.CniRequestSchema, pb.CniResponseSchema),
  Check: method('Check', pb.CniRequestSchema, pb.CniResponseSchema),
  Gc: method('Gc', pb.GcRequestSchema, pb.CniResponseSchema),
  Status: method('Status', pb.StatusRequestSchema, pb.CniResponseSchema),
};

/** Answers every call with a CniResponse; CNI failures are answers, not gRPC errors. */
function unary<Req>(fn: (req: Req) => Promise<string>): grpc.handleUnaryCall<Req, Response> {
  return (call, callback) => {
    fn(call.request).then(
      (json) => callback(null, ok(json)),
      (e: unknown) => callback(null, failed(e)),
    );
  };
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
  const handlers = new CniHandlers(opts);
  const server = new grpc.Server();
  server.addService(definition, {
    Add: unary<pb.CniRequest>((r) => handlers.add(r)),
    Del: unary<pb.CniRequest>(async (r) => {
      await handlers.del(r);
      return '';
    }),
    Check: unary<pb.CniRequest>(async (r) => {
      await handlers.check(r);
      return '';
    }),
    Gc: unary<pb.GcRequest>(async (r) => {
      await handlers.gc(r.config, r.validAttachments);
      return '';
    }),
    Status: unary<pb.StatusRequest>(async (r) => {
      await handlers.status(r.config);
      return '';
    }),
  } satisfies grpc.UntypedServiceImplementation);

  await mkdir(dirname(socketPath), { recursive: true, mode: 0o755 });
  await removeStale(socketPath);
  const tmp = `${socketPath}.${process.pid}.tmp`;
  await rm(tmp, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix://${tmp}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
  }).catch((e: unknown) => {
    throw new TerraceError('Unavailable', `cni socket ${socketPath}: cannot listen: ${(e as Error).message}`, { cause: e });
  });
  try {
    await chmod(tmp, 0o600);
    await rename(tmp, socketPath);
  } catch (e) {
    server.forceShutdown();
    await rm(tmp, { force: true });
    throw e;
  }

  return {
    socketPath,
    handlers,
    async close() {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 5000);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
      await rm(socketPath, { force: true });
    },
  };
}
