/**
 * A thin typed adapter over GoBGP's gRPC service (apipb.GobgpApi) for
 * @grpc/grpc-js. The service descriptor comes from protobuf-es generated code;
 * messages are (de)serialized with toBinary/fromBinary, so no Connect runtime
 * is needed. This is the only place where grpc-js's untyped client shows
 * through (`any`); everything it returns is typed by the generated schemas.
 */
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import { TerraceError } from '@terrace/api';
import { GobgpApi } from '../gen/gobgp_pb.js';

type Methods = typeof GobgpApi.method;
type Kind<K extends keyof Methods> = Methods[K]['methodKind'];
type UnaryName = { [K in keyof Methods]: Kind<K> extends 'unary' ? K : never }[keyof Methods];
type ServerStreamName = { [K in keyof Methods]: Kind<K> extends 'server_streaming' ? K : never }[keyof Methods];
type ClientStreamName = { [K in keyof Methods]: Kind<K> extends 'client_streaming' ? K : never }[keyof Methods];
type In<K extends keyof Methods> = MessageInitShape<Methods[K]['input']>;
type Out<K extends keyof Methods> = MessageShape<Methods[K]['output']>;

/** A server stream: iterate responses; `cancel()` ends it (iteration then stops quietly). */
export interface ServerStream<T> extends AsyncIterable<T> {
  cancel(): void;
}

/** A client stream: write requests, then `end()` resolves with the response. */
export interface ClientStream<I, O> {
  write(msg: I): Promise<void>;
  end(): Promise<O>;
}

function serializer<D extends DescMessage>(schema: D): (v: MessageShape<D>) => Buffer {
  return (v) => Buffer.from(toBinary(schema, v));
}

function deserializer<D extends DescMessage>(schema: D): (b: Buffer) => MessageShape<D> {
  // readUnknownFields off: we never re-encode what we receive.
  return (b) => fromBinary(schema, b, { readUnknownFields: false });
}

/** grpc-js method definitions for every method of the service. */
function definitions(): grpc.ServiceDefinition {
  const defs: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const m of GobgpApi.methods) {
    defs[m.localName] = {
      path: `/${GobgpApi.typeName}/${m.name}`,
      requestStream: m.methodKind === 'client_streaming' || m.methodKind === 'bidi_streaming',
      responseStream: m.methodKind === 'server_streaming' || m.methodKind === 'bidi_streaming',
      requestSerialize: serializer(m.input) as (v: unknown) => Buffer,
      requestDeserialize: deserializer(m.input),
      responseSerialize: serializer(m.output) as (v: unknown) => Buffer,
      responseDeserialize: deserializer(m.output),
    };
  }
  return defs;
}

const ClientCtor = grpc.makeGenericClientConstructor(definitions(), 'GobgpApi');

function asUnavailable(address: string, method: string, e: unknown): TerraceError {
  const err = e as { code?: number; details?: string; message?: string };
  const reason = err.details || err.message || String(e);
  const code = err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED ? 'Unavailable' : 'Internal';
  return new TerraceError(code, `gobgpd ${address}: ${method}: ${reason}`, { cause: e });
}

export interface GobgpClientOptions {
  /** Per-call deadline for unary calls in ms (default 10000). */
  timeoutMs?: number;
}

export class GobgpClient {
  readonly address: string;
  // The generic client has one dynamically named method per RPC.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private readonly raw: any;
  private readonly timeoutMs: number;

  /** `address` is `host:port` or `unix:///path/to/socket`. */
  constructor(address: string, opts: GobgpClientOptions = {}) {
    this.address = address;
    this.timeoutMs = opts.timeoutMs ?? 10000;
    this.raw = new ClientCtor(address, grpc.credentials.createInsecure(), {
      // Initial best-path dumps and ListPath pages can be large.
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
      // A table load streams one message per prefix: a 64 KiB window would
      // make gobgpd wait for a window update every few hundred of them.
      'grpc-node.flow_control_window': 16 * 1024 * 1024,
      // Reconnect quickly after gobgpd restarts: the speaker re-applies its
      // state when the channel is ready again (onReadyChange), so the backoff
      // bounds how late a restarted gobgpd is noticed. Dialling loopback or a
      // unix socket four times a second costs nothing.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 250,
    });
  }

  /** Waits until the channel is connected (or throws after `timeoutMs`). */
  waitReady(timeoutMs = 10000): Promise<void> {
    return new Promise((resolve, reject) => {
      this.raw.waitForReady(Date.now() + timeoutMs, (err: Error | undefined) => {
        if (err) reject(asUnavailable(this.address, 'connect', err));
        else resolve();
      });
    });
  }

  /**
   * Calls `cb(true)` each time the channel becomes ready (connected to a
   * gobgpd) after it was not, and `cb(false)` when it stops being ready (the
   * connection dropped: gobgpd exited or restarted). While not ready the
   * channel keeps dialling, so a gobgpd that comes back is seen within one
   * reconnect backoff. Returns a function that stops watching.
   */
  onReadyChange(cb: (ready: boolean) => void): () => void {
    const ch = this.raw.getChannel() as grpc.Channel;
    const { READY, SHUTDOWN } = grpc.connectivityState;
    let stopped = false;
    let ready = ch.getConnectivityState(false) === READY;
    const watch = (): void => {
      if (stopped) return;
      // true: an idle channel (after a dropped connection) starts dialling.
      const now = ch.getConnectivityState(true);
      if (now === SHUTDOWN) return;
      if ((now === READY) !== ready) {
        ready = now === READY;
        cb(ready);
      }
      ch.watchConnectivityState(now, Infinity, () => watch());
    };
    watch();
    return () => {
      stopped = true;
    };
  }

  unary<K extends UnaryName>(method: K, req: In<K>, timeoutMs = this.timeoutMs): Promise<Out<K>> {
    const m = GobgpApi.method[method];
    const msg = create(m.input, req as never);
    return new Promise((resolve, reject) => {
      this.raw[method](msg, { deadline: Date.now() + timeoutMs }, (err: Error | null, res: Out<K>) => {
        if (err) reject(asUnavailable(this.address, m.name, err));
        else resolve(res);
      });
    });
  }

  serverStream<K extends ServerStreamName>(method: K, req: In<K>): ServerStream<Out<K>> {
    const m = GobgpApi.method[method];
    const call = this.raw[method](create(m.input, req as never)) as grpc.ClientReadableStream<Out<K>>;
    return this.wrapStream(call, m.name);
  }

  clientStream<K extends ClientStreamName>(method: K): ClientStream<In<K>, Out<K>> {
    const m = GobgpApi.method[method];
    let settle!: { resolve: (v: Out<K>) => void; reject: (e: unknown) => void };
    const result = new Promise<Out<K>>((resolve, reject) => {
      settle = { resolve, reject };
    });
    result.catch(() => undefined); // surfaced by end()
    const call = this.raw[method]((err: Error | null, res: Out<K>) => {
      if (err) settle.reject(asUnavailable(this.address, m.name, err));
      else settle.resolve(res);
    }) as grpc.ClientWritableStream<unknown>;
    return {
      write: (msg) =>
        new Promise<void>((resolve) => {
          // Resolve on drain so callers get backpressure without buffering everything.
          if (call.write(create(m.input, msg as never))) resolve();
          else call.once('drain', () => resolve());
        }),
      end: () => {
        call.end();
        return result;
      },
    };
  }

  private wrapStream<T>(call: grpc.ClientReadableStream<T>, name: string): ServerStream<T> {
    let cancelled = false;
    const address = this.address;
    return {
      cancel() {
        cancelled = true;
        call.cancel();
      },
      async *[Symbol.asyncIterator]() {
        try {
          for await (const msg of call) yield msg as T;
        } catch (e) {
          if (cancelled && (e as { code?: number }).code === grpc.status.CANCELLED) return;
          throw asUnavailable(address, name, e);
        } finally {
          if (!cancelled) call.cancel();
        }
      },
    };
  }

  /** Collects a server stream into an array. */
  async list<K extends ServerStreamName>(method: K, req: In<K>): Promise<Out<K>[]> {
    const out: Out<K>[] = [];
    for await (const msg of this.serverStream(method, req)) out.push(msg);
    return out;
  }

  close(): void {
    this.raw.close();
  }
}
