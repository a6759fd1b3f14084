/**
 * Fixtures for the remote-cluster tests: an etcd of the test's own that can
 * be stopped, paused (SIGSTOP), moved to another client port and started
 * again on the same data, always by PID; a RemoteCluster manifest; a secrets
 * directory in the controller's layout; readers of the records A writes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_VERSION, type ClusterFence, type RemoteCluster, type RemoteClusterState, validateResource } from '@terrace/api';
import { EtcdResourceStore, Keys } from '@terrace/datastore';
import { freePort, uniqueCluster } from '@terrace/testkit';
import { Etcd3 } from 'etcd3';

export interface OwnEtcd {
  endpoint: string;
  /** Stops it (data kept) and starts it again on `port` (default: its usual one). */
  restart(port?: number): Promise<string>;
  stop(): Promise<void>;
  pause(): void;
  resume(): void;
  /** Extra arguments for every start (e.g. auth settings). */
  close(): Promise<void>;
}

async function healthy(endpoint: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`etcd exited with code ${child.exitCode}`);
    try {
      // /health answers 503 under auth without a token; any answer means it is serving.
      await fetch(`${endpoint}/version`, { signal: AbortSignal.timeout(500) });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`etcd at ${endpoint} did not start`);
}

export async function ownEtcd(): Promise<OwnEtcd> {
  const dataDir = mkdtempSync(join(tmpdir(), 'terrace-remote-etcd-'));
  const clientPort = await freePort();
  const peer = `http://127.0.0.1:${await freePort()}`;
  let child: ChildProcess | undefined;
  const start = async (port: number): Promise<string> => {
    const url = `http://127.0.0.1:${port}`;
    const c = spawn('etcd', [
      '--name=remote', `--data-dir=${dataDir}`, `--listen-client-urls=${url}`, `--advertise-client-urls=${url}`,
      `--listen-peer-urls=${peer}`, `--initial-advertise-peer-urls=${peer}`, `--initial-cluster=remote=${peer}`,
      '--initial-cluster-state=new', '--log-level=error', '--logger=zap',
    ], { stdio: 'ignore' });
    child = c;
    await healthy(url, c);
    return url;
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c?.pid || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    process.kill(c.pid, 'SIGCONT');
    process.kill(c.pid, 'SIGKILL');
    await exited;
  };
  const endpoint = await start(clientPort);
  return {
    endpoint,
    restart: async (port = clientPort) => {
      await stop();
      return start(port);
    },
    stop,
    pause: () => child?.pid && process.kill(child.pid, 'SIGSTOP'),
    resume: () => child?.pid && process.kill(child.pid, 'SIGCONT'),
    close: async () => {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function remoteCluster(name: string, clusterName: string, endpoint: string, extra: Record<string, unknown> = {}): RemoteCluster {
  const { etcd, ...rest } = extra;
  return validateResource({
    apiVersion: API_VERSION,
    kind: 'RemoteCluster',
    metadata: { name },
    spec: { clusterName, etcd: { endpoints: [endpoint], ...(etcd as object | undefined) }, staleAfter: '2s', ...rest },
  }) as RemoteCluster;
}

/** A secrets directory holding <name>/<key> files. */
export function secretsDir(files: Record<string, Record<string, string>>): { dir: string; close(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'terrace-secrets-'));
  for (const [name, keys] of Object.entries(files)) {
    mkdirSync(join(dir, name));
    for (const [k, v] of Object.entries(keys)) writeFileSync(join(dir, name, k), `${v}\n`);
  }
  return { dir, close: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Fast timings for tests: rounds, probes and backoff in tenths of seconds. */
export const FAST_REMOTE = { debounceMs: 50, refreshMs: 500, sync: { timeoutMs: 1000, probeMs: 250, retryMs: 100, maxRetryMs: 500 } };

/** The state doc A's controller wrote for one RemoteCluster, undefined when absent. */
export async function stateDoc(etcd: Etcd3, keys: Keys, name: string): Promise<RemoteClusterState | undefined> {
  const t = await etcd.get(keys.remoteState(name)).string();
  return t === null ? undefined : (JSON.parse(t) as RemoteClusterState);
}

/** The fence as stored, undefined when absent. */
export async function fenceDoc(etcd: Etcd3, keys: Keys): Promise<ClusterFence | undefined> {
  const t = await etcd.get(keys.fence()).string();
  return t === null ? undefined : (JSON.parse(t) as ClusterFence);
}

/** A client and a store for "cluster B" under a prefix of its own on `endpoint`; the caller closes the client. */
export function remoteStore(endpoint: string, tag: string): { keys: Keys; etcd: Etcd3; store: EtcdResourceStore } {
  const keys = new Keys(uniqueCluster(tag));
  const etcd = new Etcd3({ hosts: endpoint });
  return { keys, etcd, store: new EtcdResourceStore(etcd, keys) };
}
