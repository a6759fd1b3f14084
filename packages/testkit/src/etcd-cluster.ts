/**
 * A multi-member etcd on loopback for benches and tests that need quorum
 * behaviour without a lab: every member on 127.0.0.1 with ports of its own,
 * a temporary data directory each, stopped by PID and removed when done.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, stopChild } from './etcd.js';

export interface EtcdClusterMember {
  name: string;
  /** Client URL, e.g. http://127.0.0.1:40123 */
  endpoint: string;
  pid: number;
}

export interface EtcdClusterHandle {
  members: EtcdClusterMember[];
  /** Every client URL, comma-separated (as --etcd-endpoints takes them). */
  endpoints: string;
  stop(): Promise<void>;
}

async function healthy(endpoint: string): Promise<boolean> {
  try {
    return (await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

/** Starts `members` (default 3) etcd members as one cluster; resolves once every one is healthy. */
export async function startEtcdCluster(opts: { members?: number; args?: readonly string[]; timeoutMs?: number } = {}): Promise<EtcdClusterHandle> {
  const count = opts.members ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > 9) throw new Error(`etcd cluster: ${count} members: must be 1-9`);
  const dir = mkdtempSync(join(tmpdir(), 'terrace-etcd-cluster-'));
  const ports = [];
  for (let i = 0; i < count; i++) ports.push({ client: await freePort(), peer: await freePort() });
  const token = `terrace-${process.pid}-${Date.now().toString(36)}`;
  const initial = ports.map((p, i) => `m${i + 1}=http://127.0.0.1:${p.peer}`).join(',');
  const children: ChildProcess[] = [];
  const errs: string[] = Array.from({ length: count }, () => '');
  const stop = async (): Promise<void> => {
    await Promise.all(children.map(stopChild));
    rmSync(dir, { recursive: true, force: true });
  };
  const members: EtcdClusterMember[] = [];
  try {
    ports.forEach((p, i) => {
      const name = `m${i + 1}`;
      const endpoint = `http://127.0.0.1:${p.client}`;
      const child = spawn('etcd', [
        `--name=${name}`,
        `--data-dir=${join(dir, name)}`,
        `--listen-client-urls=${endpoint}`,
        `--advertise-client-urls=${endpoint}`,
        `--listen-peer-urls=http://127.0.0.1:${p.peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${p.peer}`,
        `--initial-cluster=${initial}`,
        `--initial-cluster-token=${token}`,
        '--initial-cluster-state=new',
        '--log-level=error',
        '--logger=zap',
        ...(opts.args ?? []),
      ], { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr?.on('data', (d: Buffer) => {
        errs[i] = ((errs[i] ?? '') + d.toString()).slice(-2000);
      });
      children.push(child);
      if (child.pid === undefined) throw new Error('could not start etcd (is etcd-server installed? run scripts/install-deps.sh)');
      members.push({ name, endpoint, pid: child.pid });
    });
    const deadline = Date.now() + (opts.timeoutMs ?? 30000);
    for (;;) {
      const dead = children.findIndex((c) => c.exitCode !== null);
      if (dead >= 0) throw new Error(`etcd member m${dead + 1} exited with code ${children[dead]?.exitCode}: ${errs[dead]}`);
      if ((await Promise.all(members.map((m) => healthy(m.endpoint)))).every(Boolean)) break;
      if (Date.now() > deadline) throw new Error(`etcd cluster not healthy after ${opts.timeoutMs ?? 30000} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { members, endpoints: members.map((m) => m.endpoint).join(','), stop };
}
