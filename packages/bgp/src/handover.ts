/**
 * Sockets opened by a short-lived child and handed to us over its IPC channel
 * (SCM_RIGHTS). Started with `ip netns exec`, the child opens the socket in
 * another network namespace; a socket keeps the namespace it was created in,
 * so we use it from ours with no relay in the path. The BMP station's
 * listener (bmp/listen.ts) and BFD's UDP sockets (bfd/sockets.ts) come this
 * way.
 */
import { spawn } from 'node:child_process';
import { TerraceError } from '@terrace/api';

/** A child that has not handed over its socket by then is stuck (a hung `ip netns exec`). */
export const HANDOVER_TIMEOUT_MS = 10_000;

/**
 * Runs `program` (a `node -e` script that opens a socket and sends it with
 * `process.send(msg, socket)`, or sends `{error}`) with `args`, inside `netns`
 * when given, and resolves with the socket it sends. Errors start with `what`.
 */
export function socketFromChild<T extends { close(): unknown }>(program: string, args: readonly string[], netns: string | undefined, what: string): Promise<T> {
  const nodeArgs = ['-e', program, ...args];
  const cmd = netns ? 'ip' : process.execPath;
  const argv = netns ? ['netns', 'exec', netns, process.execPath, ...nodeArgs] : nodeArgs;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    let done = false;
    const fail = (why: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new TerraceError('Unavailable', `${what}: ${why}`));
    };
    const timer = setTimeout(() => fail(`no socket after ${HANDOVER_TIMEOUT_MS} ms`), HANDOVER_TIMEOUT_MS);
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => fail(e.message));
    child.on('message', (m: { port?: number; error?: string }, handle?: unknown) => {
      if (done) {
        (handle as T | undefined)?.close();
        return;
      }
      if (m.error || !handle) return fail(m.error ?? 'no socket received');
      done = true;
      clearTimeout(timer);
      resolve(handle as T);
    });
    child.on('exit', (code) => fail(stderr.trim() || `helper exited with ${code}`));
  });
}
