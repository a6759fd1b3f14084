/**
 * The lifecycle both daemons share: start, run until SIGTERM or SIGINT, stop
 * once (a second signal waits for the same stop), then exit even if an open
 * handle (a gRPC channel) would keep the process alive.
 */
import type { Logger } from './index.js';

export interface Service {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface ServeOptions {
  log: Logger;
  /** Logged once start() has resolved. */
  running: () => void;
  /** Runs after the service stopped (close the etcd client, say). */
  cleanup: () => void;
  /** Maps a start failure to the process exit code. */
  exitCodeFor: (e: unknown) => number;
}

/** Starts `svc` and resolves with the exit code once a signal has stopped it (or start failed). */
export async function serveUntilSignal(svc: Service, o: ServeOptions): Promise<number> {
  let stopping: Promise<void> | undefined;
  const stop = (signal: string): Promise<void> => {
    stopping ??= (async () => {
      o.log.info('stopping', { signal });
      await svc.stop().catch((e: unknown) => o.log.error('stop failed', { error: (e as Error).message }));
      o.cleanup();
    })();
    return stopping;
  };
  const exited = new Promise<number>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void stop(sig).then(() => resolve(0)));
  });
  try {
    await svc.start();
    o.running();
  } catch (e) {
    o.log.error('start failed', { error: (e as Error).message });
    await stop('start failure');
    return o.exitCodeFor(e) || 1;
  }
  return exited;
}

/**
 * How a daemon reports a bad flag or config file, before it has a logger:
 * `name: what and why` as one line on stderr, so that a service manager's
 * log shows it as one entry. Takes commander's messages too (`error: ...`,
 * with a suggestion on a second line).
 */
export function reportBadInvocation(name: string, message: string): void {
  process.stderr.write(`${name}: ${message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()}\n`);
}

/** Runs a daemon's main and exits with its code; an unexpected throw exits 3 with the stack. */
export function runMain(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => {
      process.exitCode = code;
      // Open handles (gRPC channels) must not keep a stopped daemon alive.
      setTimeout(() => process.exit(code), 200).unref();
    },
    (e: unknown) => {
      process.stderr.write(`${name}: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(3);
    },
  );
}
