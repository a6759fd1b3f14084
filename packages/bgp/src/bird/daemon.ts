/**
 * Supervises one BIRD: `bird -f -c CONF -s SOCK`, optionally inside a named
 * network namespace (`ip netns exec NS bird ...`, which execs BIRD in place,
 * so the PID is BIRD's), restarts it with exponential backoff when it dies,
 * and stops it by PID. Each successful (re)start bumps `generation` and emits
 * `up`. BIRD reads CONF itself at start-up, so the file must be in place
 * (and valid) before start(); the speaker writes it first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { rmSync } from 'node:fs';
import { TerraceError } from '@terrace/api';
import { BirdControl } from './control.js';
import { DEFAULT_BIRD_BINARY } from './constants.js';

export interface BirdDaemonOptions {
  /** The configuration file BIRD reads (and re-reads on `configure`). */
  configPath: string;
  /** The control socket (a per-instance path: two BIRDs must never share one). */
  socketPath: string;
  /** Run inside this network namespace. */
  netns?: string;
  /** Path to bird (default `bird` on PATH). */
  binary?: string;
  /** First restart delay in ms (default 200), doubled per failure up to maxBackoffMs (default 10000). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** A run this long (ms, default 30000) resets the backoff. */
  stableAfterMs?: number;
  /** How long to wait for the control socket after a start (ms, default 10000). */
  readyTimeoutMs?: number;
  /** Receives BIRD's log lines. */
  onLog?: (line: string) => void;
}

export interface BirdDaemonEvents {
  up: [generation: number, pid: number];
  exit: [code: number | null, signal: NodeJS.Signals | null];
  error: [err: Error];
}

export class BirdDaemon extends EventEmitter<BirdDaemonEvents> {
  private readonly opts: BirdDaemonOptions;
  private child: ChildProcess | undefined;
  private gen = 0;
  private stopping = false;
  private backoffMs: number;
  private restartTimer: NodeJS.Timeout | undefined;
  private lastOutput = '';

  constructor(opts: BirdDaemonOptions) {
    super();
    this.opts = opts;
    this.backoffMs = opts.initialBackoffMs ?? 200;
  }

  get generation(): number {
    return this.gen;
  }

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /** The tail of BIRD's output, for error messages. */
  output(): string {
    return this.lastOutput;
  }

  async start(): Promise<void> {
    this.stopping = false;
    try {
      await this.spawnOnce();
    } catch (e) {
      if (this.child) this.kill('SIGKILL');
      throw e;
    }
  }

  private async spawnOnce(): Promise<void> {
    // A stale socket from a killed run is replaced by BIRD itself, but remove it
    // so waiting for readiness cannot talk to nobody.
    rmSync(this.opts.socketPath, { force: true });
    // After a crash, -R (graceful restart recovery) lets the kernel protocol keep
    // the routes the last BIRD wrote until graceful-restart peers have sent
    // their tables again, instead of removing them at the first kernel scan.
    const recovery = this.gen > 0 ? ['-R'] : [];
    const args = ['-f', ...recovery, '-c', this.opts.configPath, '-s', this.opts.socketPath];
    const bin = this.opts.binary ?? DEFAULT_BIRD_BINARY;
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
    const control = new BirdControl(this.opts.socketPath);
    try {
      await Promise.race([
        control.waitReady(this.opts.readyTimeoutMs ?? 10000),
        exited.then(() => {
          throw new TerraceError('Unavailable', `bird exited during start-up: ${this.lastOutput.trim().slice(-500)}`);
        }),
      ]);
    } finally {
      control.close();
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
        if (this.child && !this.stopping) this.kill('SIGKILL');
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

  /** Stops BIRD by PID (SIGTERM, then SIGKILL after graceMs) and stops supervising. */
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
