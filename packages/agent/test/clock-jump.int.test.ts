/**
 * An agent's wall clock jumps while it runs: bin/terrace-agent processes
 * under libfaketime (the monotonic clock stays real, as in a real clock
 * step), one with gobgpd and one with BIRD, each in its node's namespace,
 * against an etcd in the lab. The clock goes ten minutes forward, then
 * twenty back (ten behind the real time). Through both, each node's liveness
 * key stays on the lease it was first granted (the node is never dead, not
 * even for a regrant), and the status record keeps being rewritten at its
 * interval, stamped with the jumped clock. Last, a step forward while etcd
 * restarts: the etcd3 client's own keepalive would call the lease lost by
 * the wall clock when it opens its stream again; the agent's renewals
 * (lease-renewal.ts) leave that judgement to etcd.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keys } from '@terrace/datastore';
import { LIBFAKETIME, createLab, fakedClockEnv, killNamespaceLeftovers, listNamespaces, setFakedClock, startLabEtcd, waitFor, type Daemon, type Lab } from '@terrace/testkit';

const ETCD = '198.18.0.2';
const endpoint = `http://${ETCD}:2379`;
const CLUSTER = 'clock';
const keys = new Keys(CLUSTER);
const root = new URL('../../../../', import.meta.url).pathname;
const agentBin = join(root, 'bin/terrace-agent');
const NODES = [
  { name: 'node1', ip: '198.18.0.11', backend: 'gobgp' },
  { name: 'node2', ip: '198.18.0.12', backend: 'bird' },
] as const;

let lab: Lab;
let dir: string;
let etcdNs: string;
let etcd: Daemon;
const agents = new Map<string, { ns: string; daemon: Daemon; clock: string }>();

/** One key as etcd holds it: its value and the lease it is bound to (decimal). */
async function getKey(key: string): Promise<{ value: string; lease: string } | undefined> {
  const { stdout } = await lab.exec(etcdNs, 'etcdctl', ['--endpoints', endpoint, 'get', key, '-w', 'json'], { timeoutMs: 10000 });
  const kv = (JSON.parse(stdout) as { kvs?: { value: string }[] }).kvs?.[0];
  // etcdctl prints the lease as a bare JSON number above 2^53: taken as text, since two leases granted one after the other differ in the low bits.
  return kv ? { value: Buffer.from(kv.value, 'base64').toString(), lease: /"lease":(\d+)/.exec(stdout)?.[1] ?? '0' } : undefined;
}

const updatedAt = async (node: string): Promise<string | undefined> => {
  const kv = await getKey(keys.status(node));
  return kv ? (JSON.parse(kv.value) as { updatedAt: string }).updatedAt : undefined;
};

function output(node: string): string {
  return agents.get(node)?.daemon.output() ?? '';
}

/** The lab's etcd (again, after a kill: same data directory). */
async function startEtcd(): Promise<void> {
  etcd = await startLabEtcd(lab, etcdNs, ETCD, join(dir, 'etcd'));
}

beforeAll(async () => {
  expect(existsSync(LIBFAKETIME)).toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'terrace-agent-clock-'));
  lab = await createLab({ tag: 'tc' });
  const fabric = await lab.addBridge();
  etcdNs = await lab.addNamespace('etcd');
  await lab.connect(etcdNs, fabric, `${ETCD}/24`);
  await startEtcd();
  for (const n of NODES) {
    const ns = await lab.addNamespace(n.name);
    await lab.connect(ns, fabric, `${n.ip}/24`);
    const nodeDir = join(dir, n.name);
    mkdirSync(nodeDir, { recursive: true });
    const clock = join(nodeDir, 'clock');
    const backend = n.backend === 'bird' ? ['--bgp-backend', 'bird', '--bird-dir', join(nodeDir, 'bird')] : [];
    const daemon = lab.startDaemon(ns, {
      name: `terrace-agent@${n.name}`,
      command: process.execPath,
      args: [agentBin, '--node-name', n.name, '--node-ip', n.ip, ...backend, '--etcd-endpoints', endpoint, '--cluster', CLUSTER, '--log-format', 'json',
        '--lease-ttl', '3s', '--status-interval', '1s', '--no-cni', '--metrics-listen', 'off'],
      env: fakedClockEnv(clock),
      keepOutput: 200_000,
    });
    agents.set(n.name, { ns, daemon, clock });
  }
}, 60000);

afterAll(async () => {
  for (const a of agents.values()) if (a.daemon.running()) await a.daemon.stop(5000);
  for (const a of agents.values()) await killNamespaceLeftovers(a.ns);
  await lab?.destroy();
  rmSync(dir, { recursive: true, force: true });
  expect(await listNamespaces(lab.prefix)).toEqual([]);
}, 30000);

/** Each node's liveness lease, once both agents run and publish their status. */
const leases = new Map<string, string>();

/**
 * Sets every agent's clock to `offset`, waits three lease TTLs, and checks
 * that each node kept its lease and went on writing its status in the new
 * clock's terms (`skewMs`: where the status times should now be).
 */
async function jumpAndCheck(offset: string, skewMs: number): Promise<void> {
  for (const a of agents.values()) setFakedClock(a.clock, offset);
  const seen = new Map<string, Set<string>>(NODES.map((n) => [n.name, new Set<string>()]));
  const until = Date.now() + 9000;
  while (Date.now() < until) {
    for (const n of NODES) {
      const alive = await getKey(keys.alive(n.name));
      expect({ node: n.name, lease: alive?.lease }).toEqual({ node: n.name, lease: leases.get(n.name) });
      const at = await updatedAt(n.name);
      if (at !== undefined && Math.abs(Date.parse(at) - Date.now() - skewMs) < 60_000) seen.get(n.name)?.add(at);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  for (const n of NODES) {
    // Written about once a second on the jumped clock: several distinct times in nine seconds.
    expect({ node: n.name, writes: (seen.get(n.name)?.size ?? 0) >= 3 }).toEqual({ node: n.name, writes: true });
    expect(output(n.name)).not.toContain('liveness lease lost');
    expect(agents.get(n.name)?.daemon.running()).toBe(true);
  }
}

describe('an agent whose wall clock jumps', () => {
  it('starts with both backends and publishes its status', async () => {
    for (const n of NODES) {
      await waitFor(
        `${n.name} status`,
        async () => {
          const a = agents.get(n.name);
          if (!a?.daemon.running()) throw new Error(`agent ${n.name} exited: ${output(n.name)}`);
          return (await updatedAt(n.name)) !== undefined;
        },
        45000,
        500,
      );
      const alive = await getKey(keys.alive(n.name));
      expect(alive?.lease).not.toBe('0');
      leases.set(n.name, alive?.lease as string);
    }
  }, 60000);

  it('ten minutes forward: the lease is kept, the status keeps coming', async () => {
    await jumpAndCheck('+10m', 10 * 60_000);
  }, 30000);

  it('twenty minutes back (ten behind): the lease is kept, the status keeps coming', async () => {
    await jumpAndCheck('-10m', -10 * 60_000);
  }, 30000);

  it('forward again while etcd restarts (renewals must start over on a new stream): the lease is kept, the node key never deleted', async () => {
    const watch = lab.startDaemon(etcdNs, { name: 'etcdctl watch', command: 'etcdctl', args: ['--endpoints', endpoint, 'watch', '--prefix', keys.prefix], keepOutput: 200_000 });
    const probe = `${keys.prefix}test-probe`;
    await waitFor('the watch', async () => Boolean(await lab.exec(etcdNs, 'etcdctl', ['--endpoints', endpoint, 'put', probe, '1'])) && watch.output().includes(probe), 10000, 200);
    // No renewal is answered after this point on the old clock; the connection breaks on the new one.
    process.kill(etcd.pid, 'SIGSTOP');
    for (const a of agents.values()) setFakedClock(a.clock, '+10m');
    await new Promise((r) => setTimeout(r, 1000));
    process.kill(etcd.pid, 'SIGKILL');
    process.kill(etcd.pid, 'SIGCONT');
    await etcd.exited;
    await startEtcd();
    // etcd gives every lease a full TTL again when it comes back: the agents' leases live on.
    const restartedAt = Date.now();
    while (Date.now() - restartedAt < 9000) {
      for (const n of NODES) {
        const alive = await getKey(keys.alive(n.name));
        expect({ node: n.name, lease: alive?.lease }).toEqual({ node: n.name, lease: leases.get(n.name) });
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    await watch.stop();
    // etcdctl prints an event as its type on one line and the key on the next.
    const lines = watch.output().split('\n');
    expect(lines.filter((l, i) => l === 'DELETE' && lines[i + 1]?.startsWith(keys.alivePrefix()))).toEqual([]);
    for (const n of NODES) expect(output(n.name)).not.toContain('liveness lease lost');
  }, 60000);
});
