/**
 * Route queries against real etcd and two real agents, one on GoBGP and one
 * on BIRD, meshed over a lab bridge:
 *
 *   node a (198.18.0.21, gobgpd) ── fabric ── node b (198.18.0.22, BIRD)
 *
 * askAgents() writes a query; each agent answers from its own kernel and
 * speaker: the node owning a block says it originates it, the other reports
 * the learned path and the kernel route via the owner. The etcd clients live
 * in this process (root namespace), the daemons and routes in the nodes'.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BgpBackend } from '@terrace/api';
import { DEFAULT_GOBGP_API_PORT } from '@terrace/bgp';
import { EtcdResourceStore, Keys, askAgents, connect, decodeRouteAnswer, resolveConnectionConfig, type RouteAnswer } from '@terrace/datastore';
import { Allocator } from '@terrace/ipam';
import { createLab, listNamespaces, onProcessExit, sharedEtcdEndpoint, uniqueCluster, waitFor, type Lab } from '@terrace/testkit';
import type { Etcd3 } from 'etcd3';
import type { AgentConfig } from '../src/config.js';
import { bgpConfig, pool } from './fixtures.js';
import { createLogger, silentLogger } from '@terrace/log';
import { NodeAgent } from '../src/node-agent.js';

const NODES: { name: string; addr: string; backend: BgpBackend }[] = [
  { name: 'a', addr: '198.18.0.21', backend: 'gobgp' },
  { name: 'b', addr: '198.18.0.22', backend: 'bird' },
];

let lab: Lab;
let dir: string;
let etcd: Etcd3;
let keys: Keys;
const agents = new Map<string, NodeAgent>();
const nsOf = new Map<string, string>();
const blockOf = new Map<string, string>();
const addrOf = new Map<string, string>();

function config(name: string, addr: string, backend: BgpBackend): AgentConfig {
  return {
    nodeName: name,
    addresses: { 4: `${addr}/24` },
    asNumber: undefined,
    labels: {},
    bgpBackend: backend,
    bird: { binary: 'bird', dir: join(dir, `bird-${name}`), sidecar: false },
    gobgp: { kind: 'supervised', apiPort: DEFAULT_GOBGP_API_PORT, binary: 'gobgpd' },
    connection: {},
    logFormat: 'text',
    logLevel: 'warn',
    resyncIntervalMs: 5000,
    statusIntervalMs: 1000,
    leaseTtlSeconds: 5,
    secretsDir: undefined,
    cniSocket: undefined,
    cniStateDir: '/nonexistent',
    podMtu: undefined,
    metricsListen: undefined,
  };
}

function answerOf(answers: RouteAnswer[], node: string): RouteAnswer {
  const a = answers.find((x) => x.node === node);
  if (!a) throw new Error(`no answer from ${node}`);
  return a;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'terrace-rq-'));
  const cluster = uniqueCluster('rq');
  etcd = await connect(resolveConnectionConfig({ etcdEndpoints: sharedEtcdEndpoint(), cluster }, {}, '/nonexistent'));
  keys = new Keys(cluster);
  const store = new EtcdResourceStore(etcd, keys);
  lab = await createLab({ tag: 'rq' });
  onProcessExit(() => {
    for (const a of agents.values()) {
      const pid = a.speaker.daemonPid;
      if (pid) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
  });
  const fabric = await lab.addBridge();
  for (const n of NODES) {
    const ns = await lab.addNamespace(n.name);
    nsOf.set(n.name, ns);
    await lab.connect(ns, fabric, `${n.addr}/24`);
  }
  await store.create(bgpConfig('default', { nodeToNodeMeshEnabled: true, keepaliveTime: '1s' }));
  await store.create(pool('pods', '198.19.16.0/20'));
  for (const n of NODES) {
    const log = process.env.TERRACE_TEST_LOGS ? createLogger('text', 'debug', { node: n.name }) : silentLogger();
    const agent = new NodeAgent({
      config: config(n.name, n.addr, n.backend),
      etcd,
      keys,
      store,
      log,
      netns: nsOf.get(n.name) as string,
      gobgpApiAddress: `unix://${join(dir, `${n.name}.sock`)}`,
      speakerTuning: { restartGraceMs: 20000, resyncMs: 2000, initialBackoffMs: 100 },
    });
    agents.set(n.name, agent);
    await agent.start();
  }
  const allocator = new Allocator({ etcd, keys, cacheTtlMs: 0 });
  for (const n of NODES) {
    const r = await allocator.allocate({ handle: `pod-${n.name}`, node: n.name });
    blockOf.set(n.name, r.ips[0]?.block as string);
    addrOf.set(n.name, r.ips[0]?.ip as string);
  }
}, 90000);

afterAll(async () => {
  for (const a of agents.values()) await a.stop().catch(() => undefined);
  await lab?.destroy();
  etcd?.close();
  rmSync(dir, { recursive: true, force: true });
  expect(await listNamespaces(lab.prefix)).toEqual([]);
}, 30000);

describe('route queries', () => {
  it('each agent answers: the owner originates its block, the other learned it over BGP and routes it via the owner', async () => {
    const [ba, bb] = [blockOf.get('a') as string, blockOf.get('b') as string];
    // Until both sessions are up and routes installed, the answers say so: ask until they agree.
    const answers = await waitFor(
      'answers showing both blocks learned',
      async () => {
        const r = await askAgents(etcd, keys, [ba, bb], { timeoutMs: 3000, askedBy: 'test' });
        if (r.missing.length > 0 || r.errors.length > 0) return undefined;
        const a = answerOf(r.answers, 'a').results[1];
        const b = answerOf(r.answers, 'b').results[0];
        return a?.bgp.length && a.kernel.length && b?.bgp.length && b.kernel.length ? r.answers : undefined;
      },
      60000,
    );
    const a = answerOf(answers, 'a');
    const b = answerOf(answers, 'b');
    expect(a.backend).toBe('gobgp');
    expect(b.backend).toBe('bird');
    // a about its own block: originated, nothing learned, the kernel's blackhole of ours.
    expect(a.results[0]).toMatchObject({ prefix: ba, originated: true, bgp: [] });
    expect(a.results[0]?.kernel).toEqual([{ dst: ba, type: 'blackhole', via: [], protocol: 'terrace' }]);
    // a about b's block: learned from b, our route via b.
    expect(a.results[1]).toMatchObject({ prefix: bb, originated: false });
    expect(a.results[1]?.bgp).toEqual([{ prefix: bb, nextHop: '198.18.0.22', peer: '', best: true, asPath: [] }]);
    expect(a.results[1]?.kernel).toEqual([{ dst: bb, type: 'unicast', via: ['198.18.0.22'], dev: 'eth0', protocol: 'terrace' }]);
    // b (BIRD writes its own kernel routes) about a's block.
    expect(b.results[0]).toMatchObject({ prefix: ba, originated: false });
    expect(b.results[0]?.bgp).toEqual([{ prefix: ba, nextHop: '198.18.0.21', peer: '', best: true, asPath: [] }]);
    expect(b.results[0]?.kernel).toEqual([{ dst: ba, type: 'unicast', via: ['198.18.0.21'], dev: 'eth0', protocol: 'bird' }]);
    expect(b.results[1]).toMatchObject({ prefix: bb, originated: true, bgp: [] });
  }, 90000);

  it('an address is answered with the covering block, and an unrouted one with nothing', async () => {
    const addr = addrOf.get('b') as string;
    const r = await askAgents(etcd, keys, [addr, '203.0.113.7'], { timeoutMs: 3000, askedBy: 'test', expect: ['a'] });
    expect(r.missing).toEqual([]);
    const [hit, miss] = answerOf(r.answers, 'a').results;
    expect(hit).toMatchObject({ prefix: addr, originated: false });
    expect(hit?.bgp.map((p) => p.prefix)).toEqual([blockOf.get('b')]);
    expect(hit?.kernel.map((k) => k.dst)).toEqual([blockOf.get('b')]);
    expect(miss).toEqual({ prefix: '203.0.113.7', originated: false, kernel: [], bgp: [] });
  }, 30000);

  it('the query and its answers are gone once the asker has them', async () => {
    await askAgents(etcd, keys, [blockOf.get('a') as string], { timeoutMs: 3000, askedBy: 'test' });
    expect(await etcd.getAll().prefix(keys.queryPrefix()).keys()).toEqual([]);
    expect(await etcd.getAll().prefix(keys.queryAnswerPrefix()).keys()).toEqual([]);
  }, 30000);

  it('a node that does not answer is reported missing after the timeout, not waited for', async () => {
    // 5 s: a and b must answer within it even on a loaded machine; the ghost never does.
    const r = await askAgents(etcd, keys, [blockOf.get('a') as string], { timeoutMs: 5000, askedBy: 'test', expect: ['a', 'b', 'ghost'] });
    expect(r.missing).toEqual(['ghost']);
    expect(r.answers.map((x) => x.node)).toEqual(['a', 'b']);
  }, 30000);

  it('bad input is refused before anything is written', async () => {
    await expect(askAgents(etcd, keys, ['198.19.0.0/33'], { timeoutMs: 1000, askedBy: 'test' })).rejects.toThrow('route query: "198.19.0.0/33" is neither an IP address nor a CIDR');
    expect(await etcd.getAll().prefix(keys.queryPrefix()).keys()).toEqual([]);
  });

  it('a garbled answer is that node’s error, not a crash', () => {
    expect(() => decodeRouteAnswer('x', '{"node":"x","backend":"gobgp","answeredAt":"t","results":[{"prefix":1}]}')).toThrow(
      'route answer of node x: a result needs prefix, originated, kernel[] and bgp[]',
    );
    expect(() => decodeRouteAnswer('x', 'nope')).toThrow('route answer of node x: not JSON');
  });
});
