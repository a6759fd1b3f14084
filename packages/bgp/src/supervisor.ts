/**
 * What every supervised BGP daemon shares: start it (inside a named network
 * namespace with `ip netns exec`, which execs the daemon in place, so the PID
 * is the daemon's), wait until it answers, restart it with exponential
 * backoff when it dies, and stop it by PID. Each successful (re)start bumps
 * `generation` and emits `up`; the speakers listen for that and re-apply the
 * whole desired state. Subclasses say how to run and how to ask "ready?".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { TerraceError, monotonicMs } from '@terrace/api';

export interface SupervisorTuning {
  /** Run inside this network namespace (`ip netns exec NS ...`). */
  netns?: string;
  /** First restart delay in ms (default 200), doubled per failure up to maxBackoffMs (default 10000). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** A run this long (ms, default 30000) resets the backoff. */
  stableAfterMs?: number;
  /** Receives the daemon's log lines. */
  onLog?: (line: string) => void;
}

export interface DaemonEvents {
  up: [generation: number, pid: number];
  exit: [code: number | null, signal: NodeJS.Signals | null];
  error: [err: Error];
}

export abstract class SupervisedDaemon extends EventEmitter<DaemonEvents> {
  private child: ChildProcess | undefined;
  private gen = 0;
  private stopping = false;
  private backoffMs: number;
  private restartTimer: NodeJS.Timeout | undefined;
  private lastOutput = '';

  protected constructor(
    /** For messages, e.g. `gobgpd`. */
    private readonly name: string,
    private readonly tuning: SupervisorTuning,
  ) {
    super();
    this.backoffMs = tuning.initialBackoffMs ?? 200;
  }

  /** The executable and its arguments for this start (`generation` counts the starts so far). */
  protected abstract command(generation: number): { binary: string; args: string[] };
  /** Resolves once the daemon answers; rejects when it does not within the subclass's timeout. */
  protected abstract waitReady(): Promise<void>;
  /** Runs before each start, e.g. to remove a stale socket. */
  protected prepare(): void {}

  get generation(): number {
    return this.gen;
  }

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /** The tail of the daemon's output, for error messages. */
  output(): string {
    return this.lastOutput;
  }

  /** Starts the daemon and resolves once it answers. */
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
    this.prepare();
    const { binary, args } = this.command(this.gen);
    const [cmd, argv] = this.tuning.netns ? ['ip', ['netns', 'exec', this.tuning.netns, binary, ...args]] : [binary, args];
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const startedAt = monotonicMs();
    const onData = (d: Buffer): void => {
      const s = d.toString();
      this.lastOutput = (this.lastOutput + s).slice(-4000);
      if (this.tuning.onLog) for (const line of s.split('\n')) if (line.trim()) this.tuning.onLog(line);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.emit('exit', code, signal);
        resolve();
        if (this.child === child) this.child = undefined;
        if (this.stopping) return;
        if (monotonicMs() - startedAt > (this.tuning.stableAfterMs ?? 30000)) this.backoffMs = this.tuning.initialBackoffMs ?? 200;
        this.scheduleRestart();
      });
    });
    child.once('error', (e) => this.emit('error', e));
    await Promise.race([
      this.waitReady(),
      exited.then(() => {
        throw new TerraceError('Unavailable', `${this.name} exited during start-up: ${this.lastOutput.trim().slice(-500)}`);
      }),
    ]);
    this.gen += 1;
    if (child.pid !== undefined) this.emit('up', this.gen, child.pid);
  }

  private scheduleRestart(): void {
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.tuning.maxBackoffMs ?? 10000);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      this.spawnOnce().catch((e: unknown) => {
        this.emit('error', e instanceof Error ? e : new Error(String(e)));
        // An exit during start-up already scheduled the next attempt; a hung start did not.
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

  /** Stops the daemon by PID (SIGTERM, then SIGKILL after graceMs) and stops supervising. */
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
