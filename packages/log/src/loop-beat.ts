/**
 * Liveness of a daemon's loops: each loop beats when it turns (whether or
 * not its work succeeded), and /healthz fails once a loop has not turned for
 * longer than it may. An HTTP answer alone would only prove the event loop
 * runs; a wedged publisher or resync would go unnoticed.
 */
import type { CheckResult } from './metrics-server.js';

interface Loop {
  maxAgeMs: number;
  last: number;
  /** False while the loop is not supposed to run (e.g. a standby controller's passes). */
  active: boolean;
}

export class LoopBeat {
  private readonly loops = new Map<string, Loop>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A loop that must turn at least every `maxAgeMs` once started; counted from now. */
  add(name: string, maxAgeMs: number): void {
    this.loops.set(name, { maxAgeMs, last: this.now(), active: true });
  }

  beat(name: string): void {
    const l = this.loops.get(name);
    if (l) l.last = this.now();
  }

  /** Pauses or resumes the age check (resuming starts the clock afresh). */
  setActive(name: string, active: boolean): void {
    const l = this.loops.get(name);
    if (!l) return;
    if (active && !l.active) l.last = this.now();
    l.active = active;
  }

  checks(): CheckResult[] {
    const now = this.now();
    return [...this.loops].map(([name, l]) => {
      if (!l.active) return { name, ok: true, detail: 'not running here (standby)' };
      const age = now - l.last;
      return age <= l.maxAgeMs
        ? { name, ok: true, detail: `turned ${(age / 1000).toFixed(1)}s ago` }
        : { name, ok: false, detail: `has not turned for ${(age / 1000).toFixed(1)}s (limit ${(l.maxAgeMs / 1000).toFixed(0)}s)` };
    });
  }
}
