/**
 * One status publication at a time, and the liveness beat when one finishes.
 * The beat follows the publication, not the timer that asks for it: a
 * publication that never finishes stops the beats, so /healthz fails and the
 * kubelet restarts the agent. Each step of a publication is bounded (see
 * node-agent.ts), so an etcd or speaker outage ends it with an error instead.
 */
export class StatusTurns {
  private running: Promise<void> | undefined;

  constructor(
    private readonly onFailure: (e: Error) => void,
    private readonly onTurn: (() => void) | undefined,
  ) {}

  /** Starts `work` unless one is still running; resolves when the running one ends. Never rejects. */
  run(work: () => Promise<void>): Promise<void> {
    this.running ??= work()
      .catch((e: unknown) => this.onFailure(e instanceof Error ? e : new Error(String(e))))
      .finally(() => {
        this.running = undefined;
        this.onTurn?.();
      });
    return this.running;
  }

  /** The publication in flight, if any (stop waits for it). */
  get inFlight(): Promise<void> | undefined {
    return this.running;
  }
}
