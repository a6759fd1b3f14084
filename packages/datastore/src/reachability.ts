/**
 * "Is etcd reachable?" for readiness, from the calls a daemon makes anyway
 * (every unary call reports here through ConnectOptions.observe) and, when
 * those have been quiet for a while, one probe read of its own. The answer
 * follows the latest outcome: a failure after the last success means not
 * reachable until a call succeeds again.
 */
import type { TerraceError } from '@terrace/api';
import type { Etcd3 } from 'etcd3';

export interface Reachability {
  ok: boolean;
  detail: string;
}

export interface EtcdReachabilityOptions {
  /** A success older than this is confirmed by a probe (default 5000 ms). */
  freshMs?: number;
  /** Bound on the probe (default 2000 ms). */
  probeTimeoutMs?: number;
  now?: () => number;
}

export class EtcdReachability {
  private lastOk = 0;
  private lastFail = 0;
  private lastError = '';
  private probing: Promise<void> | undefined;
  private client: { etcd: Etcd3; key: string } | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: EtcdReachabilityOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  /** The observer to hand to connect(): records each call's outcome. */
  readonly observe = (_seconds: number, error: TerraceError | undefined): void => this.record(error?.message);

  private record(error: string | undefined): void {
    if (error !== undefined) {
      this.lastFail = this.now();
      this.lastError = error;
    } else {
      this.lastOk = this.now();
    }
  }

  /** The client to probe with (a read of `key`), once connected. */
  probeWith(etcd: Etcd3, key: string): void {
    this.client = { etcd, key };
  }

  /** The current answer; probes first when no call has succeeded lately. */
  async check(): Promise<Reachability> {
    const freshMs = this.opts.freshMs ?? 5000;
    if (this.client && this.now() - Math.max(this.lastOk, this.lastFail) > freshMs) {
      const { etcd, key } = this.client;
      // The probe's outcome reaches observe() like any other call.
      this.probing ??= withTimeout(etcd.get(key).exec(), this.opts.probeTimeoutMs ?? 2000)
        .then(
          () => undefined,
          (e: unknown) => {
            // A probe that timed out here never reached the observer.
            if (this.now() - this.lastFail > 1000) this.record((e as Error).message);
          },
        )
        .finally(() => {
          this.probing = undefined;
        });
      await this.probing;
    }
    return this.answer();
  }

  private answer(): Reachability {
    const now = this.now();
    if (this.lastOk === 0 && this.lastFail === 0) return { ok: false, detail: 'no etcd request made yet' };
    if (this.lastFail > this.lastOk) return { ok: false, detail: `last etcd request failed ${ago(now - this.lastFail)}: ${this.lastError}` };
    return { ok: true, detail: `last etcd request succeeded ${ago(now - this.lastOk)}` };
  }
}

function ago(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s ago`;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`etcd: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}
