/**
 * bin/terrace-agent as a process, the way the lab runs it: inside the node's
 * namespace (`ip netns exec`), against an etcd that listens in the lab (on
 * the fabric), with its own supervised gobgpd. Checks start-up (address
 * detected from the interface, Node registered, status published), JSON
 * logs, and a clean SIGTERM shutdown that takes gobgpd and the lease-bound
 * keys with it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { NodeStatus } from '@terrace/api';
import { createLab, killNamespaceLeftovers, listNamespaces, startLabEtcd, waitFor, type Daemon, type Lab } from '@terrace/testkit';

const run = promisify(execFile);
const ETCD = '198.18.0.2';
const endpoint = `http://${ETCD}:2379`;
const root = new URL('../../../../', import.meta.url).pathname;
const agentBin = join(root, 'bin/terrace-agent');
const ctlBin = join(root, 'bin/terracectl');

let lab: Lab;
let nodeNs: string;
let dataDir: string;
let agent: Daemon;

/** terracectl run inside the node's namespace (where the lab etcd is reachable). */
async function ctl(...args: string[]): Promise<string> {
  return (await lab.exec(nodeNs, process.execPath, [ctlBin, '--etcd-endpoints', endpoint, '--cluster', 'smoke', ...args], { timeoutMs: 20000 })).stdout;
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'terrace-etcd-lab-'));
  lab = await createLab({ tag: 'tm' });
  const fabric = await lab.addBridge();
  const etcdNs = await lab.addNamespace('etcd');
  await lab.connect(etcdNs, fabric, `${ETCD}/24`);
  nodeNs = await lab.addNamespace('node');
  await lab.connect(nodeNs, fabric, '198.18.0.11/24');
  await startLabEtcd(lab, etcdNs, ETCD, dataDir);
  agent = lab.startDaemon(nodeNs, {
    name: 'terrace-agent',
    command: process.execPath,
    args: [agentBin, '--node-name', 'node1', '--node-ip-from-interface', 'eth0', '--labels', 'rack=r1', '--etcd-endpoints', endpoint, '--cluster', 'smoke', '--log-format', 'json', '--status-interval', '1s', '--cni-socket', join(dataDir, 'cni.sock'), '--metrics-listen', 'off'],
  });
}, 60000);

afterAll(async () => {
  if (agent?.running()) await agent.stop(5000);
  if (nodeNs) await killNamespaceLeftovers(nodeNs);
  await lab?.destroy();
  rmSync(dataDir, { recursive: true, force: true });
  expect(await listNamespaces(lab.prefix)).toEqual([]);
}, 30000);

describe('bin/terrace-agent', () => {
  it('registers the node with the address of its interface and publishes its status', async () => {
    const status = await waitFor(
      'node status published',
      async () => {
        if (!agent.running()) throw new Error(`agent exited: ${agent.output()}`);
        const s = JSON.parse(await ctl('node', 'status', 'node1', '-o', 'json')) as NodeStatus | { status: string };
        return 'routerId' in s ? s : undefined;
      },
      30000,
      500,
    );
    expect(status).toMatchObject({ node: 'node1', asNumber: 64512, routerId: '198.18.0.11', addresses: ['198.18.0.11'], peers: [] });
    const node = JSON.parse(await ctl('get', 'node', 'node1', '-o', 'json')) as { spec: { bgp: { ipv4Address: string } }; metadata: { labels: Record<string, string> } };
    expect(node.spec.bgp.ipv4Address).toBe('198.18.0.11/24');
    expect(node.metadata.labels).toEqual({ rack: 'r1', 'terrace.dev/bgp-backend': 'gobgp' });
  }, 40000);

  it('logs one JSON object per line', () => {
    const lines = agent.output().split('\n').filter((l) => l.trim().startsWith('{'));
    expect(lines.length).toBeGreaterThan(0);
    const parsed = lines.map((l) => JSON.parse(l) as { level: string; message: string; node: string; timestamp: string });
    expect(parsed.some((p) => p.message === 'agent running' && p.node === 'node1' && p.level === 'info')).toBe(true);
    expect(parsed.some((p) => p.message === 'serving CNI')).toBe(true);
    expect(existsSync(join(dataDir, 'cni.sock'))).toBe(true);
  });

  it('stops on SIGTERM with exit code 0, taking gobgpd and its status with it', async () => {
    const exit = await agent.stop(10000);
    expect(exit.code).toBe(0);
    const { stdout } = await run('ip', ['netns', 'pids', nodeNs]);
    expect(stdout.trim()).toBe('');
    const s = JSON.parse(await ctl('node', 'status', 'node1', '-o', 'json')) as { status?: string };
    expect(s.status).toBe('no status published');
    expect(existsSync(join(dataDir, 'cni.sock'))).toBe(false);
  }, 30000);
});
