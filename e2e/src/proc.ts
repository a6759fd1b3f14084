/**
 * Running programs inside lab namespaces. Every client (terracectl, the CNI
 * plugin, ping, ip) runs through `ip netns exec`, so the lab never needs a
 * path from the root namespace into 198.18.0.0/15.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (e2e/dist/src → ../../..). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BIN = {
  agent: join(REPO_ROOT, 'bin', 'terrace-agent'),
  controller: join(REPO_ROOT, 'bin', 'terrace-controller'),
  cni: join(REPO_ROOT, 'bin', 'terrace-cni'),
  ctl: join(REPO_ROOT, 'bin', 'terracectl'),
} as const;

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, in ms. */
  ms: number;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
}

/**
 * The environment children get: ours without Terrace's connection variables,
 * so a developer's TERRACE_ETCD_ENDPOINTS can never point a lab client at a
 * real cluster; the lab passes everything it means explicitly.
 */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TERRACE_') && !k.startsWith('CNI_')) env[k] = v;
  return { ...env, ...extra };
}

/** Runs `cmd args` in namespace `ns`; never throws for a non-zero exit (the caller judges). */
export function runIn(ns: string, cmd: string, args: readonly string[] = [], opts: RunOptions = {}): Promise<RunResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
      env: opts.env ?? cleanEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Like runIn, but a non-zero exit is an error carrying stderr. */
export async function mustRunIn(ns: string, cmd: string, args: readonly string[] = [], opts: RunOptions = {}): Promise<string> {
  const r = await runIn(ns, cmd, args, opts);
  if (r.code !== 0) {
    const why = (r.stderr || r.stdout).trim();
    throw new Error(`${ns}: ${cmd} ${args.join(' ')} exited ${r.code}: ${why}`);
  }
  return r.stdout;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `check` until it returns true. Unlike testkit's waitFor, an exception
 * from `check` ends the wait at once: the lab throws when a daemon it waits
 * for has died, and there is no point in waiting out the timeout then.
 */
export async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15000, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
