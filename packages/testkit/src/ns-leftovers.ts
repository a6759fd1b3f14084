import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Kills, by PID, every process still inside a namespace: what a daemon
 * started there by a process under test (gobgpd, BIRD) leaves behind when
 * that process fails to stop it. A namespace with a process in it outlives
 * `ip netns del`.
 */
export async function killNamespaceLeftovers(ns: string): Promise<void> {
  const { stdout } = await run('ip', ['netns', 'pids', ns]).catch(() => ({ stdout: '' }));
  for (const pid of stdout.split('\n').filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}
