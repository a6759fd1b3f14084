/**
 * Starts a real etcd for tests: free loopback ports, a temporary data dir,
 * stopped by PID and removed when done. One etcd is shared by every suite
 * of a jest run (see scripts/jest-global-setup); a suite that needs one of
 * its own (to stop it, say) starts another with startEtcd().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EtcdHandle {
  /** Client URL, e.g. http://127.0.0.1:40123 */
  endpoint: string;
  pid: number;
  dataDir: string;
  stop(): Promise<void>;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitHealthy(endpoint: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`etcd exited with code ${child.exitCode} before becoming healthy`);
    try {
      const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(500) });
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`etcd at ${endpoint} not healthy after ${timeoutMs} ms`);
}

/** `opts.args` go to etcd as they are (a small --quota-backend-bytes, say). */
export async function startEtcd(opts: { name?: string; binary?: string; args?: readonly string[] } = {}): Promise<EtcdHandle> {
  const dataDir = mkdtempSync(join(tmpdir(), 'terrace-etcd-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const name = opts.name ?? 'terrace-test';
  const child = spawn(
    opts.binary ?? 'etcd',
    [...singleMemberArgs(name, dataDir, endpoint, peer), ...(opts.args ?? [])],
    { stdio: ['ignore', 'ignore', 'pipe'], detached: false },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start etcd (is etcd-server installed? run scripts/install-deps.sh)');
  const stop = async (): Promise<void> => {
    await stopChild(child);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitHealthy(endpoint, child, 15000);
  } catch (e) {
    await stop();
    throw new Error(`${(e as Error).message}\n${stderr}`);
  }
  return { endpoint, pid, dataDir, stop };
}

let counter = 0;
/** A cluster name no other suite in this run uses, to isolate suites sharing one etcd. */
export function uniqueCluster(tag = 't'): string {
  counter += 1;
  return `${tag}-${process.pid}-${Date.now().toString(36)}-${counter}`.toLowerCase();
}

/** The shared test etcd's endpoint (set by the jest global setup). */
export function sharedEtcdEndpoint(): string {
  const ep = process.env.TERRACE_TEST_ETCD;
  if (!ep) throw new Error('TERRACE_TEST_ETCD is not set: run the tests through `make test` / `npm test`');
  return ep;
}

/** SIGTERM to a child by PID, SIGKILL after 3 s if it is still there; resolves when it has exited. */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  const pid = child.pid;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  process.kill(pid, 'SIGTERM');
  const t = setTimeout(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, 3000);
  return exited.finally(() => clearTimeout(t));
}

/** The flags of a one-member etcd cluster on the given client and peer URLs, quiet but for errors. */
export function singleMemberArgs(name: string, dataDir: string, endpoint: string, peer: string): string[] {
  return [
    `--name=${name}`,
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${endpoint}`,
    `--advertise-client-urls=${endpoint}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=${name}=${peer}`,
    '--initial-cluster-state=new',
    '--log-level=error',
    '--logger=zap',
  ];
}
