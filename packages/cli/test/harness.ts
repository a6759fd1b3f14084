/**
 * Runs the real bin/terracectl as a child process against the shared test
 * etcd, and reads the etcd keys of a cluster back for before/after checks.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';

export const BIN = fileURLToPath(new URL('../../../../bin/terracectl', import.meta.url));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  stdin?: string;
  env?: NodeJS.ProcessEnv;
}

/** Runs terracectl with exactly these arguments (no flags added). */
export function terracectl(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    // A clean environment: no TERRACE_* settings leak in from the caller.
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...opts.env };
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr, ms: performance.now() - started }),
    );
    child.stdin.end(opts.stdin ?? '');
  });
}

/** terracectl bound to one etcd endpoint and cluster. */
export function bound(endpoint: string, cluster: string) {
  return (args: readonly string[], opts: RunOptions = {}): Promise<RunResult> =>
    terracectl(['--etcd-endpoints', endpoint, '--cluster', cluster, ...args], opts);
}

/** Every key under the cluster's prefix with its value and mod revision, as one string. */
export async function dumpCluster(etcd: Etcd3, cluster: string): Promise<string> {
  const res = await etcd.getAll().prefix(`/terrace/v1/${cluster}/`).exec();
  return res.kvs
    .map((kv) => `${kv.key.toString()} @${kv.mod_revision} ${kv.value.toString()}`)
    .sort()
    .join('\n');
}

/** A temporary directory for manifest files; remove() deletes it. */
export function tempDir(): { path: string; write(name: string, text: string): string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'terracectl-test-'));
  return {
    path,
    write(name, text) {
      const file = join(path, name);
      writeFileSync(file, text);
      return file;
    },
    remove() {
      rmSync(path, { recursive: true, force: true });
    },
  };
}
