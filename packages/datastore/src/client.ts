/**
 * Opening etcd so that nothing ever hangs. etcd3's defaults retry each call
 * three times and give grpc no deadline, so an etcd that accepts TCP but
 * never answers (a stopped process, a black-holed route) would block a
 * caller forever. Here every unary call gets a deadline, the retry policy
 * only moves on to the next endpoint, and one overall timeout bounds the
 * whole call; watch streams keep no deadline (they live for hours) and
 * reconnect on their own.
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { TerraceError, isTerraceError } from '@terrace/api';
import { type IPolicy, TaskCancelledError, TimeoutStrategy, handleWhen, isBrokenCircuitError, noop, retry, timeout, wrap } from 'cockatiel';
import {
  Etcd3,
  EtcdAuthenticationFailedError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCUnauthenticatedError,
  GRPCUnavailableError,
  type IOptions,
  isRecoverableError,
} from 'etcd3';
import type { ConnectionConfig } from './config.js';
import { Keys } from './keys.js';
import { tlsFailure } from './tls-reason.js';
import { dropIpServernameWarning } from './ip-servername.js';

export interface ConnectOptions {
  /**
   * Upper bound on one etcd call, in ms, including moving on to other
   * endpoints. Default 4500, so that "unreachable" is reported within 5 s.
   */
  timeoutMs?: number;
  /** Skip the reachability probe that connect() makes. Default false. */
  noProbe?: boolean;
  /** Told about every unary call once it finished (metrics, readiness); watch streams are not calls. */
  observe?: EtcdCallObserver;
}

/** One finished etcd call: its whole time (retries included) and, when it failed, why. */
export type EtcdCallObserver = (seconds: number, error: TerraceError | undefined) => void;

export const DEFAULT_TIMEOUT_MS = 4500;

/** Which endpoints a client talks to, for error messages (see endpointsOf). */
const clientEndpoints = new WeakMap<Etcd3, readonly string[]>();

export function endpointsOf(etcd: Etcd3): readonly string[] {
  return clientEndpoints.get(etcd) ?? [];
}

function readFileFor(setting: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new TerraceError('Invalid', `etcd ${setting} file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** The etcd3 options for a config: TLS, auth, deadlines and fault handling. */
export function etcdOptions(cfg: ConnectionConfig, opts: ConnectOptions = {}): IOptions {
  const total = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const hosts = cfg.endpoints;
  // Each attempt gets its share of the budget so that a black-holed first
  // endpoint still leaves time to try the others.
  const perAttempt = Math.max(500, Math.floor(total / hosts.length));
  const options: IOptions = {
    hosts: [...hosts],
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + perAttempt }),
    faultHandling: {
      // No circuit breaker per host: it would turn the real reason (connection
      // refused, deadline) into an opaque "circuit open" for seconds.
      host: () => noop,
      global: observed(
        wrap(timeout(total, TimeoutStrategy.Aggressive), hosts.length > 1 ? retry(handleWhen(isRecoverableError), { maxAttempts: hosts.length - 1 }) : noop),
        opts.observe,
        hosts,
      ),
    },
  };
  if (cfg.ca !== undefined || cfg.cert !== undefined) {
    const credentials: NonNullable<IOptions['credentials']> = {
      // Without an explicit CA the client trusts Node's bundled roots, as an
      // https:// endpoint without any TLS file does.
      rootCertificate: cfg.ca !== undefined ? readFileFor('CA', cfg.ca) : Buffer.from(rootCertificates.join('\n')),
    };
    if (cfg.cert !== undefined && cfg.key !== undefined) {
      credentials.certChain = readFileFor('client certificate', cfg.cert);
      credentials.privateKey = readFileFor('client key', cfg.key);
    }
    options.credentials = credentials;
  }
  if (cfg.username !== undefined && cfg.password !== undefined) {
    options.auth = { username: cfg.username, password: cfg.password };
  }
  return options;
}

/**
 * The global policy, timed: every unary call of the client goes through it
 * once (etcd3's connection pool), so this is the one place that sees them all.
 */
function observed<P extends IPolicy>(policy: P, observe: EtcdCallObserver | undefined, endpoints: readonly string[]): P {
  if (!observe) return policy;
  const execute = policy.execute.bind(policy);
  const timedExecute: IPolicy['execute'] = async (fn, signal) => {
    const t0 = performance.now();
    try {
      const r = await execute(fn, signal);
      observe((performance.now() - t0) / 1000, undefined);
      return r;
    } catch (e) {
      observe((performance.now() - t0) / 1000, mapEtcdError(e, endpoints));
      throw e;
    }
  };
  return Object.assign(Object.create(policy) as P, { execute: timedExecute });
}

/** A client for cfg, without any call made yet. */
export function createClient(cfg: ConnectionConfig, opts: ConnectOptions = {}): Etcd3 {
  if (cfg.endpoints.some((e) => e.startsWith('https:'))) dropIpServernameWarning();
  const etcd = new Etcd3(etcdOptions(cfg, opts));
  clientEndpoints.set(etcd, cfg.endpoints);
  return etcd;
}

/**
 * Opens etcd and proves it answers (one read of the cluster's prefix key,
 * which also checks credentials). Fails with Unavailable within the
 * timeout; never hangs.
 */
export async function connect(cfg: ConnectionConfig, opts: ConnectOptions = {}): Promise<Etcd3> {
  const etcd = createClient(cfg, opts);
  if (opts.noProbe) return etcd;
  try {
    await etcd.get(new Keys(cfg.cluster).prefix).exec();
  } catch (e) {
    etcd.close();
    throw mapEtcdError(e, cfg.endpoints);
  }
  return etcd;
}

function where(endpoints: readonly string[]): string {
  return endpoints.length ? endpoints.join(',') : 'the configured endpoints';
}

/** The gRPC detail without etcd3's class-name prefix and grpc's status prefix. */
function reasonOf(err: Error): string {
  const msg = err.message.replace(/^\d+ [A-Z_]+: /, '').replace(/\s+Please report this error.*$/s, '');
  // grpc-js: "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: "
  const last = /Last error: (?:Error: )?(.*?)\.?\s*(?:Resolution note:.*)?$/s.exec(msg);
  const reason = (last?.[1] ?? msg).split('\n')[0] as string;
  // grpc-js says `14 UNAVAILABLE: null` when an open connection closes under a call (etcd stopped).
  if (reason === 'null' || reason === '') return 'the connection closed';
  return tlsFailure(reason) ?? reason;
}

/**
 * Maps anything thrown by etcd3/grpc to a TerraceError. Connection
 * problems (refused, deadline, TLS, credentials) are Unavailable with the
 * endpoints in the message; anything else is Internal. TerraceErrors pass
 * through unchanged.
 */
export function mapEtcdError(err: unknown, endpoints: readonly string[]): TerraceError {
  if (isTerraceError(err)) return err;
  const at = where(endpoints);
  if (!(err instanceof Error)) return new TerraceError('Internal', `etcd at ${at}: ${String(err)}`, { cause: err });
  // Not cockatiel's isTaskCancelledError: in 3.2.1 it tests the wrong property.
  if (err instanceof TaskCancelledError) {
    const ms = /(\d+)\s*ms/.exec(err.message)?.[1];
    return new TerraceError('Unavailable', `etcd unreachable at ${at}: no answer within ${ms !== undefined ? `${ms} ms` : 'the call timeout'}`, { cause: err });
  }
  if (isBrokenCircuitError(err)) {
    return new TerraceError('Unavailable', `etcd unreachable at ${at}: recent calls failed`, { cause: err });
  }
  if (err instanceof GRPCDeadlineExceededError) {
    return new TerraceError('Unavailable', `etcd unreachable at ${at}: deadline exceeded`, { cause: err });
  }
  if (/etcdserver: user name is empty/.test(err.message)) {
    return new TerraceError('Unavailable', `etcd at ${at} requires a username and password (set --etcd-username and --etcd-password)`, { cause: err });
  }
  if (err instanceof EtcdAuthenticationFailedError || err instanceof GRPCUnauthenticatedError) {
    return new TerraceError('Unavailable', `etcd at ${at} refused the credentials: ${reasonOf(err)}`, { cause: err });
  }
  if (err instanceof EtcdPermissionDeniedError) {
    return new TerraceError('Unavailable', `etcd at ${at} denied access: ${reasonOf(err)}`, { cause: err });
  }
  // etcd's quota (--quota-backend-bytes) is full: the NOSPACE alarm stays
  // raised and every write fails until an operator frees space, so say so
  // and how, not the bare gRPC text.
  if (/database space exceeded/.test(err.message)) {
    return new TerraceError(
      'Unavailable',
      `etcd database space exceeded at ${at} (quota full, NOSPACE alarm raised; writes refused, reads still work): compact and defragment, then disarm the alarm`,
      { cause: err },
    );
  }
  if (err instanceof GRPCUnavailableError || isRecoverableError(err)) {
    return new TerraceError('Unavailable', `etcd unreachable at ${at}: ${reasonOf(err)}`, { cause: err });
  }
  return new TerraceError('Internal', `etcd at ${at}: ${reasonOf(err)}`, { cause: err });
}
