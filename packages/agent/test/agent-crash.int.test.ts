// The agent SIGKILLed in the middle of 20 concurrent ADDs, at chosen points
// of the ADD path (TERRACE_FAULT, test-only): between IPAM and veth wiring,
// and between wiring and the answer. After a restart and the runtime doing
// what runtimes do with failed ADDs (retry the same sandbox, or DEL it and
// start a new one), nothing may be left over: no address held by a handle
// the runtime no longer uses, no address twice, no orphan host veth.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { IPPool, TerraceNode } from '@terrace/api';
import { hostVethName } from '@terrace/dataplane';
import { Keys, createClient } from '@terrace/datastore';
import { Allocator, check } from '@terrace/ipam';
import { createLab, runCniPlugin, startEtcd, uniqueCluster, type EtcdHandle, type Lab, type PluginRun } from '@terrace/testkit';
import type { Etcd3 } from 'etcd3';
import { allocatorIpam } from '../src/cni/index.js';

const PLUGIN = fileURLToPath(new URL('../../../../bin/terrace-cni', import.meta.url));
const AGENT = fileURLToPath(new URL('./crash-agent.js', import.meta.url));
const NODE = 'n1';
const NET = 'crash';
const PODS = 20;

let lab: Lab;
let hostNs: string;
let podNs: string[] = [];
let etcdd: EtcdHandle;
let etcd: Etcd3;
let keys: Keys;
let dir: string;
const agents: ChildProcess[] = [];

const conf = (extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ cniVersion: '1.0.0', name: NET, type: 'terrace', agentSocket: join(dir, 'cni.sock'), stateDir: join(dir, 'state'), timeoutSeconds: 30, ...extra });
const call = (command: 'ADD' | 'DEL', id: string, i: number): Promise<PluginRun> =>
  runCniPlugin(PLUGIN, { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_IFNAME: 'eth0', ...(command === 'ADD' ? { CNI_NETNS: `/var/run/netns/${podNs[i] ?? ''}` } : {}) }, conf());

/** Starts the agent process; resolves once it serves, or when it prints the fault line. */
async function startAgent(fault?: string): Promise<{ agent: ChildProcess; stopped: Promise<void> }> {
  const opts = { endpoint: etcdd.endpoint, cluster: keys.cluster, socket: join(dir, 'cni.sock'), stateDir: join(dir, 'state'), hostNetns: `/var/run/netns/${hostNs}`, node: NODE };
  const env = { ...process.env };
  delete env.TERRACE_FAULT;
  const agent = spawn(process.execPath, [AGENT, JSON.stringify(opts)], { env: fault ? { ...env, TERRACE_FAULT: fault } : env, stdio: ['ignore', 'pipe', 'pipe'] });
  agents.push(agent);
  let err = '';
  const stopped = new Promise<void>((resolve) => {
    agent.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('TERRACE_FAULT: stopped at')) resolve();
    });
  });
  await new Promise<void>((resolve, reject) => {
    agent.stdout?.on('data', (d: Buffer) => d.toString().includes('serving') && resolve());
    agent.on('exit', (c) => reject(new Error(`agent exited ${String(c)}: ${err}`)));
  });
  return { agent, stopped };
}

function kill(agent: ChildProcess): Promise<void> {
  if (agent.exitCode !== null || agent.signalCode !== null) return Promise.resolve();
  const gone = new Promise<void>((r) => agent.once('exit', () => r()));
  agent.kill('SIGKILL');
  return gone;
}

async function hostVeths(): Promise<string[]> {
  const r = await lab.exec(hostNs, 'ip', ['-o', 'link', 'show', 'type', 'veth']);
  return [...r.stdout.matchAll(/^\d+: ([^:@]+)[@:]/gm)].map((m) => m[1] ?? '').sort();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'terrace-crash-'));
  etcdd = await startEtcd({ name: 'terrace-crash' });
  keys = new Keys(uniqueCluster('crash'));
  etcd = createClient({ endpoints: [etcdd.endpoint], cluster: keys.cluster, sources: {} }, { timeoutMs: 3000 });
  const pool: IPPool = {
    apiVersion: 'terrace.dev/v1',
    kind: 'IPPool',
    metadata: { name: 'v4' },
    spec: { cidr: '198.18.67.0/24', blockSize: 28, nodeSelector: 'all()', disabled: false, disableBGPExport: false, natOutgoing: false, allowedUses: ['Workload'], assignmentMode: 'Automatic', ipipMode: 'Never', vxlanMode: 'Never' },
  };
  await etcd.put(keys.resource('IPPool', 'v4')).value(JSON.stringify(pool)).exec();
  const node: TerraceNode = { apiVersion: 'terrace.dev/v1', kind: 'Node', metadata: { name: NODE, labels: {} }, spec: {} };
  await etcd.put(keys.resource('Node', NODE)).value(JSON.stringify(node)).exec();
  lab = await createLab({ tag: 'tc' });
  hostNs = await lab.addNamespace('host');
  podNs = await Promise.all(Array.from({ length: PODS }, (_, i) => lab.addNamespace(`p${i}`)));
}, 120_000);

afterAll(async () => {
  await Promise.all(agents.map(kill));
  await lab?.destroy();
  etcd?.close();
  await etcdd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the agent killed in the middle of 20 concurrent ADDs', () => {
  const cases = [
    { fault: 'after-ipam:1', round: 'a' },
    { fault: 'after-ipam:12', round: 'b' },
    { fault: 'after-wire:7', round: 'c' },
    // A runtime that gives the failed sandboxes up and later garbage-collects.
    { fault: 'after-wire:3', round: 'd', gc: true },
  ];
  it.each(cases)('leaves no leaked or doubled address and no orphan veth when killed at $fault', async ({ fault, round, gc }) => {
    const ids = Array.from({ length: PODS }, (_, i) => `${round}-${i}`);
    const { agent, stopped } = await startAgent(fault);
    const t0 = performance.now();
    const adds = ids.map((id, i) => call('ADD', id, i));
    await stopped;
    await kill(agent);
    const first = await Promise.all(adds);
    const failed = first.flatMap((r, i) => (r.code === 0 ? [] : [i]));
    expect(failed.length).toBeGreaterThan(0);
    for (const i of failed) expect(first[i]?.json).toMatchObject({ code: 11 });

    // The restarted agent; the runtime deals with each failed ADD: even ones
    // are retried as they were, odd ones torn down (DEL) and replaced by a
    // new sandbox; or (gc) it gives them up and sends GC listing the rest.
    const { agent: again } = await startAgent();
    if (gc) {
      const valid = ids.filter((_, i) => !failed.includes(i)).map((containerID) => ({ containerID, ifname: 'eth0' }));
      const r = await runCniPlugin(PLUGIN, { CNI_COMMAND: 'GC' }, conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': valid }));
      expect(r.code).toBe(0);
      ids.splice(0, ids.length, ...valid.map((v) => v.containerID));
    }
    await Promise.all(
      (gc ? [] : failed).map(async (i) => {
        if (i % 2 === 1) {
          expect((await call('DEL', ids[i] ?? '', i)).code).toBe(0);
          ids[i] = `${round}-${i}-new`;
        }
        const r = await call('ADD', ids[i] ?? '', i);
        expect(r.json?.code).toBeUndefined();
        expect(r.code).toBe(0);
      }),
    );
    const recoveryMs = performance.now() - t0;

    const report = await check(etcd, keys);
    expect(report.issues).toEqual([]);
    const held = await allocatorIpam(new Allocator({ etcd, keys, cacheTtlMs: 0 })).nodeAllocations(NODE);
    // Exactly one address per live attachment: no leak, and none twice.
    expect(held.map((a) => a.containerID).sort()).toEqual([...ids].sort());
    expect(new Set(held.map((a) => a.ip)).size).toBe(ids.length);
    expect(await hostVeths()).toEqual(ids.map((id) => hostVethName(id, 'eth0')).sort());
    process.stdout.write(`agent-crash ${fault}${gc ? ' (runtime GC)' : ''}: ${failed.length} of ${PODS} ADDs failed with 11; all ${ids.length} live ones wired ${Math.round(recoveryMs)} ms after the first ADD\n`);

    // Tear everything down: nothing may remain.
    for (const id of ids) expect((await call('DEL', id, 0)).code).toBe(0);
    expect(await allocatorIpam(new Allocator({ etcd, keys, cacheTtlMs: 0 })).nodeAllocations(NODE)).toEqual([]);
    expect(await hostVeths()).toEqual([]);
    await kill(again);
  }, 180_000);
});
