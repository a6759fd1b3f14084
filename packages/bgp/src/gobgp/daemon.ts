/**
 * Supervises one gobgpd (supervisor.ts): API on loopback only (or a unix
 * socket) and pprof off, ready once the API answers.
 */
import { rmSync } from 'node:fs';
import { TerraceError } from '@terrace/api';
import { SupervisedDaemon, type DaemonEvents, type SupervisorTuning } from '../supervisor.js';
import { GobgpClient } from './client.js';

/** The port of gobgpd's gRPC API (gobgpd's own default), on 127.0.0.1 wherever Terrace runs it. */
export const DEFAULT_GOBGP_API_PORT = 50051;

export interface GobgpDaemonOptions extends SupervisorTuning {
  /**
   * Where the API listens: `127.0.0.1:<port>` (default `127.0.0.1:<DEFAULT_GOBGP_API_PORT>`) or
   * `unix:///path`. A unix socket is reachable from other network namespaces,
   * which is what tests use when gobgpd runs in a lab namespace.
   */
  apiAddress?: string;
  /** Path to gobgpd (default `gobgpd` on PATH). */
  binary?: string;
  /** gobgpd log level (default `warn`). */
  logLevel?: 'panic' | 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** How long to wait for the API to answer after a start (ms, default 15000). */
  readyTimeoutMs?: number;
}

export type GobgpDaemonEvents = DaemonEvents;

function checkApiAddress(a: string): void {
  if (a.startsWith('unix://')) return;
  const m = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]):(\d{1,5})$/.exec(a);
  if (!m) {
    throw new TerraceError('Invalid', `gobgpd apiAddress "${a}": must be 127.x.x.x:<port>, [::1]:<port> or unix:///path (never all interfaces)`, {
      field: 'apiAddress',
    });
  }
}

export class GobgpDaemon extends SupervisedDaemon {
  readonly address: string;

  constructor(private readonly opts: GobgpDaemonOptions = {}) {
    super('gobgpd', opts);
    this.address = opts.apiAddress ?? `127.0.0.1:${DEFAULT_GOBGP_API_PORT}`;
    checkApiAddress(this.address);
  }

  protected override prepare(): void {
    // A stale socket from a killed run blocks the listen.
    if (this.address.startsWith('unix://')) rmSync(this.address.slice('unix://'.length), { force: true });
  }

  protected command(): { binary: string; args: string[] } {
    return { binary: this.opts.binary ?? 'gobgpd', args: [`--api-hosts=${this.address}`, '--pprof-disable', `--log-level=${this.opts.logLevel ?? 'warn'}`] };
  }

  protected async waitReady(): Promise<void> {
    const client = new GobgpClient(this.address);
    try {
      await client.waitReady(this.opts.readyTimeoutMs ?? 15000);
    } finally {
      client.close();
    }
  }
}
