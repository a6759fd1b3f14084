/**
 * Supervises one gobgpd: starts it with the API on loopback only (or a unix
 * socket) and pprof off, optionally inside a named network namespace,
 * restarts it with exponential backoff when it dies, and stops it by PID.
 * Each successful (re)start bumps `generation` and emits `up`; the speaker
 * listens for that and re-applies the whole desired state.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { rmSync } from 'node:fs';
import { TerraceError } from '@terrace/api';
import { GobgpClient } from './client.js';

/** The port of gobgpd's gRPC API (gobgpd's own default), on 127.0.0.1 wherever Terrace runs it. */
export const DEFAULT_GOBGP_API_PORT = 50051;

export interface GobgpDaemonOptions {
  /**
   * Where the API listens: `127.0.0.1:<port>` (default `127.0.0.1:<DEFAULT_GOBGP_API_PORT>`) or
   * `unix:///path`. A unix socket is reachable from other network namespaces,
   * which is what tests use when gobgpd runs in a lab namespace.
   */
  apiAddress?: string;
  /** Run inside this network namespace (`ip netns exec NS gobgpd ...`). */
  netns?: string;
  /** Path to gobgpd (default `gobgpd` on PATH). */
  binary?: string;
  /** gobgpd log level (default `warn`). */
  logLevel?: 'panic' | 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** First restart delay in ms (default 200), doubled per failure up to maxBackoffMs (default 10000). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** A run this long (ms, default 30000) resets the backoff. */
  stableAfterMs?: number;
  /** How long to wait for the API to answer after a start (ms, default 15000). */
  readyTimeoutMs?: number;
  /** Receives gobgpd's log lines. */
  onLog?: (line: string) => void;
}

export interface GobgpDaemonEvents {
  up: [generation: number, pid: number];
  exit: [code: number | null, signal: NodeJS.Signals | null];
  error: [err: Error];
}

function checkApiAddress(a: string): void {
  if (a.startsWith('unix://')) return;
  const m = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]):(\d{1,5})$/.exec(a);
  if (!m) {
    throw new TerraceError('Invalid', `gobgpd apiAddress "${a}": must be 127.x.x.x:<port>, [::1]:<port> or unix:///path (never all interfaces)`, {
      field: 'apiAddress',
    });
  }
}

export class GobgpDaemon extends EventEmitter<GobgpDaemonEvents> {
  readonly address: string;
  private readonly opts: GobgpDaemonOptions;
  private child: ChildProcess | undefined;
  private gen = 0;
  private stopping = false;
  private backoffMs: number;
  private restartTimer: NodeJS.Timeout | undefined;
  private lastOutput = '';

  constructor(opts: GobgpDaemonOptions = {}) {
    super();
    this.opts = opts;
    this.address = opts.apiAddress ?? `127.0.0.1:${DEFAULT_GOBGP_API_PORT}`;
    checkApiAddress(this.address);
    this.backoffMs = opts.initialBackoffMs ?? 200;
  }

  get generation(): number {
    return this.gen;
  }

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /** The tail of gobgpd's output, for error messages. */
  output(): string {
    return this.lastOutput;
  }

  /** Starts gobgpd and resolves once its API answers. */
  async start(): Promise<void> {
    this.stopping = false;
    try {
      await this.spawnOnce();
    } catch (e) {
      // A start that hangs is killed; the exit handler then retries with backoff.
      if (this.child) this.kill('SIGKILL');
      throw e;
    }
  }

  private async spawnOnce(): Promise<void> {
    const socket = this.address.startsWith('unix://') ? this.address.slice('unix://'.length) : undefined;
    if (socket) rmSync(socket, { force: true }); // a stale socket from a killed run blocks the listen
    const args = [`--api-hosts=${this.address}`, '--pprof-disable', `--log-level=${this.opts.logLevel ?? 'warn'}`];
    const bin = this.opts.binary ?? 'gobgpd';
    const [cmd, argv] = this.opts.netns ? ['ip', ['netns', 'exec', this.opts.netns, bin, ...args]] : [bin, args];
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const startedAt = Date.now();
    const onData = (d: Buffer): void => {
      const s = d.toString();
      this.lastOutput = (this.lastOutput + s).slice(-4000);
      if (this.opts.onLog) for (const line of s.split('\n')) if (line.trim()) this.opts.onLog(line);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.emit('exit', code, signal);
        resolve();
        if (this.child === child) this.child = undefined;
        if (this.stopping) return;
        if (Date.now() - startedAt > (this.opts.stableAfterMs ?? 30000)) this.backoffMs = this.opts.initialBackoffMs ?? 200;
        this.scheduleRestart();
      });
    });
    child.once('error', (e) => this.emit('error', e));
    const client = new GobgpClient(this.address);
    try {
      await Promise.race([
        client.waitReady(this.opts.readyTimeoutMs ?? 15000),
        exited.then(() => {
          throw new TerraceError('Unavailable', `gobgpd exited during start-up: ${this.lastOutput.trim().slice(-500)}`);
        }),
      ]);
    } finally {
      client.close();
    }
    this.gen += 1;
    if (child.pid !== undefined) this.emit('up', this.gen, child.pid);
  }

  private scheduleRestart(): void {
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.opts.maxBackoffMs ?? 10000);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      this.spawnOnce().catch((e: unknown) => {
        this.emit('error', e instanceof Error ? e : new Error(String(e)));
        // An exit during start-up already scheduled the next attempt; a hung start did not.
        if (this.child && !this.stopping) {
          this.kill('SIGKILL');
        }
      });
    }, delay);
  }

  private kill(sig: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }

  /** Stops gobgpd by PID (SIGTERM, then SIGKILL after graceMs) and stops supervising. */
  async stop(graceMs = 3000): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise<void>((r) => child.once('exit', () => r()));
    this.kill('SIGTERM');
    const t = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await done;
    clearTimeout(t);
  }
}
