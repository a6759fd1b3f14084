/**
 * Runs a CNI plugin executable as a runtime does: a clean environment with
 * the CNI_* variables, the network configuration on stdin, the answer on
 * stdout.
 */
import { spawn } from 'node:child_process';

export interface PluginRun {
  code: number | null;
  stdout: string;
  /** stdout parsed as JSON; undefined when it was empty or not JSON. */
  json: Record<string, unknown> | undefined;
  /** From spawn to exit. */
  ms: number;
}

export function runCniPlugin(plugin: string, env: Record<string, string>, stdin: string): Promise<PluginRun> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(plugin, [], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: Record<string, unknown> | undefined;
      try {
        json = stdout.trim() === '' ? undefined : (JSON.parse(stdout) as Record<string, unknown>);
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, json, ms: performance.now() - t0 });
    });
    child.stdin.on('error', () => undefined); // a plugin that exits before reading all of stdin
    child.stdin.end(stdin);
  });
}
