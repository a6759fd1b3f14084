/**
 * Supervises one BIRD (supervisor.ts): `bird -f -c CONF -s SOCK`, ready once
 * its control socket answers. BIRD reads CONF itself at start-up, so the
 * file must be in place (and valid) before start(); the speaker writes it
 * first.
 */
import { rmSync } from 'node:fs';
import { SupervisedDaemon, type DaemonEvents, type SupervisorTuning } from '../supervisor.js';
import { BirdControl } from './control.js';
import { DEFAULT_BIRD_BINARY } from './constants.js';

export interface BirdDaemonOptions extends SupervisorTuning {
  /** The configuration file BIRD reads (and re-reads on `configure`). */
  configPath: string;
  /** The control socket (a per-instance path: two BIRDs must never share one). */
  socketPath: string;
  /** Path to bird (default `bird` on PATH). */
  binary?: string;
  /** How long to wait for the control socket after a start (ms, default 10000). */
  readyTimeoutMs?: number;
}

export type BirdDaemonEvents = DaemonEvents;

export class BirdDaemon extends SupervisedDaemon {
  constructor(private readonly opts: BirdDaemonOptions) {
    super('bird', opts);
  }

  protected override prepare(): void {
    // A stale socket from a killed run is replaced by BIRD itself, but remove
    // it so that waiting for readiness cannot talk to nobody.
    rmSync(this.opts.socketPath, { force: true });
  }

  protected command(generation: number): { binary: string; args: string[] } {
    // After a crash, -R (graceful restart recovery) lets the kernel protocol
    // keep the routes the last BIRD wrote until graceful-restart peers have
    // sent their tables again, instead of removing them at the first kernel scan.
    const recovery = generation > 0 ? ['-R'] : [];
    return { binary: this.opts.binary ?? DEFAULT_BIRD_BINARY, args: ['-f', ...recovery, '-c', this.opts.configPath, '-s', this.opts.socketPath] };
  }

  protected async waitReady(): Promise<void> {
    const control = new BirdControl(this.opts.socketPath);
    try {
      await control.waitReady(this.opts.readyTimeoutMs ?? 10000);
    } finally {
      control.close();
    }
  }
}
