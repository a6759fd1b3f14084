/**
 * Starts long-running processes for tests and benchmarks, optionally inside a
 * network namespace, and tracks each by PID so that it can be stopped by PID
 * (never by name: other suites run the same daemons at the same time).
 *
 * `ip netns exec NS cmd` execs the command in place, so the PID we get is the
 * daemon's own PID, not a wrapper's.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface DaemonSpec {
  /** A label for messages, e.g. `gobgpd@node1`. */
  name: string;
  command: string;
  args?: readonly string[];
  /** Run inside this network namespace (full name, as `ip netns list` shows it). */
  netns?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Bytes of combined stdout/stderr kept for error messages (default 8000). */
  keepOutput?: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Daemon {
  readonly name: string;
  readonly pid: number;
  /** Resolves when the process has exited, for whatever reason. */
  readonly exited: Promise<ExitInfo>;
  running(): boolean;
  /** The tail of what the process wrote to stdout and stderr. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs` (default 3000). Idempotent. */
  stop(graceMs?: number): Promise<ExitInfo>;
}

const live = new Set<Daemon>();

/** Kills every tracked daemon synchronously; used on the way out. */
function killAllSync(): void {
  for (const d of live) {
    try {
      process.kill(d.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

/**
 * Cleanups run on exit and on SIGINT/SIGTERM, after every tracked daemon has
 * been killed (a namespace with a live process in it outlives `ip netns del`).
 */
const cleanupHooks = new Set<() => void>();
let hooksInstalled = false;

function runCleanups(): void {
  killAllSync();
  for (const h of [...cleanupHooks]) {
    try {
      h();
    } catch {
      // best effort on the way out
    }
  }
  cleanupHooks.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.once('exit', runCleanups);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      runCleanups();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

/** Registers a synchronous cleanup for exit and SIGINT/SIGTERM. Returns its remover. */
export function onProcessExit(fn: () => void): () => void {
  installHooks();
  cleanupHooks.add(fn);
  return () => {
    cleanupHooks.delete(fn);
  };
}

export function startDaemon(spec: DaemonSpec): Daemon {
  installHooks();
  const args = spec.args ?? [];
  const [cmd, argv] = spec.netns
    ? ['ip', ['netns', 'exec', spec.netns, spec.command, ...args]]
    : [spec.command, [...args]];
  const child: ChildProcess = spawn(cmd, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: spec.env ?? process.env,
    cwd: spec.cwd,
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${spec.name}: could not start ${spec.command}`);
  const keep = spec.keepOutput ?? 8000;
  let out = '';
  const collect = (d: Buffer): void => {
    out = (out + d.toString()).slice(-keep);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let done = false;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      live.delete(daemon);
      resolve({ code, signal });
    });
    child.once('error', () => {
      done = true;
      live.delete(daemon);
      resolve({ code: null, signal: null });
    });
  });
  const daemon: Daemon = {
    name: spec.name,
    pid,
    exited,
    running: () => !done,
    output: () => out,
    stop: async (graceMs = 3000) => {
      if (!done) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
        const t = setTimeout(() => {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }, graceMs);
        await exited;
        clearTimeout(t);
      }
      return exited;
    },
  };
  live.add(daemon);
  return daemon;
}

/** Stops every daemon this process started and has not stopped yet. */
export async function stopAll(graceMs?: number): Promise<void> {
  await Promise.all([...live].map((d) => d.stop(graceMs)));
}

/** Polls `check` every `intervalMs` until it returns a value other than undefined/false. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 15000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      const why = lastErr instanceof Error ? `: ${lastErr.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
