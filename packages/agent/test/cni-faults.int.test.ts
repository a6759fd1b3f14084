// What the real plugin answers when what the agent depends on fails: etcd
// frozen (a hung or partitioned etcd, with its own process stopped), and the
// agent's process killed in the middle of a call. Each answer must tell the
// runtime the truth about retrying: 11, naming what failed.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { IPPool, TerraceNode } from '@terrace/api';
import { Keys, createClient } from '@terrace/datastore';
import { Allocator } from '@terrace/ipam';
import { createLab, runCniPlugin, startEtcd, uniqueCluster, waitFor, type EtcdHandle, type Lab, type PluginRun } from '@terrace/testkit';
import type { Etcd3 } from 'etcd3';
import { allocatorIpam, etcdReadiness, startCniServer, type CniServer } from '../src/cni/index.js';

const PLUGIN = fileURLToPath(new URL('../../../../bin/terrace-cni', import.meta.url));
const CNI_INDEX = fileURLToPath(new URL('../src/cni/index.js', import.meta.url));
const NODE = 'n1';
const NET = 'faults';

let lab: Lab;
let hostNs: string;
let etcdd: EtcdHandle;
let etcd: Etcd3;
let keys: Keys;
let dir: string;
let server: CniServer | undefined;

const cni = (env: Record<string, string>, stdin: string): Promise<PluginRun> => runCniPlugin(PLUGIN, env, stdin);

const conf = (socket: string): string =>
  JSON.stringify({ cniVersion: '1.0.0', name: NET, type: 'terrace', agentSocket: socket, stateDir: join(dir, 'state'), timeoutSeconds: 20 });
const podEnv = (command: string, id: string, ns?: string): Record<string, string> => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: id,
  CNI_IFNAME: 'eth0',
  ...(ns ? { CNI_NETNS: `/var/run/netns/${ns}` } : {}),
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'terrace-faults-'));
  etcdd = await startEtcd({ name: 'terrace-faults' });
  keys = new Keys(uniqueCluster('faults'));
  // The agent's own client: bounded calls, so a frozen etcd is an answer within 5 s
  // (well inside the plugin's own 20 s), yet a loaded machine's slow answer is no failure.
  etcd = createClient({ endpoints: [etcdd.endpoint], cluster: keys.cluster, sources: {} }, { timeoutMs: 4500 });
  const pool: IPPool = {
    apiVersion: 'terrace.dev/v1',
    kind: 'IPPool',
    metadata: { name: 'v4' },
    spec: { cidr: '198.18.66.0/24', blockSize: 28, nodeSelector: 'all()', disabled: false, disableBGPExport: false, natOutgoing: false, allowedUses: ['Workload'], assignmentMode: 'Automatic', ipipMode: 'Never', vxlanMode: 'Never' },
  };
  await etcd.put(keys.resource('IPPool', 'v4')).value(JSON.stringify(pool)).exec();
  const node: TerraceNode = { apiVersion: 'terrace.dev/v1', kind: 'Node', metadata: { name: NODE, labels: {} }, spec: {} };
  await etcd.put(keys.resource('Node', NODE)).value(JSON.stringify(node)).exec();
  lab = await createLab({ tag: 'tf' });
  hostNs = await lab.addNamespace('host');
});

afterAll(async () => {
  await server?.close();
  await lab?.destroy();
  try {
    process.kill(etcdd.pid, 'SIGCONT');
  } catch {
    // gone
  }
  etcd?.close();
  await etcdd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the plugin when what the agent depends on fails', () => {
  it('answers 11 naming etcd and its endpoint while etcd is frozen, and finishes a DEL once etcd is back', async () => {
    const allocator = new Allocator({ etcd, keys, cacheTtlMs: 0 });
    const socket = join(dir, 'cni.sock');
    server = await startCniServer({
      socketPath: socket,
      ipam: allocatorIpam(allocator),
      nodeName: NODE,
      stateDir: join(dir, 'state'),
      hostNetns: `/var/run/netns/${hostNs}`,
      datastoreReady: etcdReadiness(etcd, keys.prefix + 'probe', 1000),
      bgpReady: () => undefined,
    });
    const pod = await lab.addNamespace('pa');
    const add = await cni(podEnv('ADD', 'ctr-a', pod), conf(socket));
    expect(add.code).toBe(0);
    const ip = ((add.json?.ips as Array<{ address: string }>)[0]?.address ?? '').split('/')[0] ?? '';

    process.kill(etcdd.pid, 'SIGSTOP');
    try {
      const pod2 = await lab.addNamespace('pb');
      const add2 = await cni(podEnv('ADD', 'ctr-b', pod2), conf(socket));
      expect(add2.code).toBe(1);
      expect(add2.json).toMatchObject({ code: 11, msg: expect.stringContaining(`etcd unreachable at ${etcdd.endpoint}`) });
      const del = await cni(podEnv('DEL', 'ctr-a'), conf(socket));
      expect(del.json).toMatchObject({ code: 11, msg: expect.stringMatching(/etcd .*; the DEL of faults:ctr-a:eth0 is recorded/) });
      const status = await cni({ CNI_COMMAND: 'STATUS' }, conf(socket).replace('1.0.0', '1.1.0'));
      expect(status.json).toMatchObject({ code: 50, msg: expect.stringContaining('etcd not reachable') });
      expect(readdirSync(join(dir, 'state', 'pending-del'))).toHaveLength(1);
    } finally {
      process.kill(etcdd.pid, 'SIGCONT');
    }
    // The agent retries recorded DELs every few seconds: the address comes
    // free without another call. (The release that timed out may also land
    // on its own once etcd resumes; the record is finished either way.)
    const pending = (): number => readdirSync(join(dir, 'state', 'pending-del')).length;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && ((await allocator.lookup(ip).catch(() => 'unknown')) !== undefined || pending() > 0)) {
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await allocator.lookup(ip)).toBeUndefined();
    expect(readdirSync(join(dir, 'state', 'pending-del'))).toEqual([]);
    await server.close();
    server = undefined;
  }, 60_000);

  it('answers 11 when the agent is killed in the middle of a call', async () => {
    // A real agent process whose IPAM never answers, and says when the ADD
    // has reached it: killed after that, the call is surely in flight.
    const socket = join(dir, 'killed.sock');
    const script = `
      import { startCniServer } from ${JSON.stringify(CNI_INDEX)};
      const never = () => new Promise(() => undefined);
      const allocate = () => {
        console.log('in flight');
        return never();
      };
      await startCniServer({ socketPath: ${JSON.stringify(socket)}, nodeName: 'n1', stateDir: ${JSON.stringify(join(dir, 'state2'))},
        ipam: { allocate, release: never, lookup: never, nodeAllocations: async () => [] },
        datastoreReady: () => undefined, bgpReady: () => undefined });
      console.log('serving');`;
    const agent = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      let out = '';
      agent.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<never>((_resolve, reject) => agent.on('exit', (c) => reject(new Error(`agent exited ${String(c)}`))));
      exited.catch(() => undefined);
      await Promise.race([waitFor('the agent to serve', () => out.includes('serving'), 30_000, 20), exited]);
      const pod = await lab.addNamespace('pk');
      const call = cni(podEnv('ADD', 'ctr-k', pod), conf(socket));
      await Promise.race([waitFor('the ADD to reach the agent', () => out.includes('in flight'), 30_000, 20), exited]);
      process.kill(agent.pid ?? 0, 'SIGKILL');
      const add = await call;
      expect(add.code).toBe(1);
      expect(add.json).toMatchObject({ code: 11, msg: `terrace-agent at ${socket} closed the call before answering (did it restart?)` });
    } finally {
      if (agent.exitCode === null) agent.kill('SIGKILL');
    }
  });
});
