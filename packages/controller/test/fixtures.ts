/**
 * Integration fixtures: a private cluster prefix on the shared test etcd,
 * controllers with their own etcd clients (so that one can be "killed" by
 * closing its client), nodes with lease-bound liveness keys as agents keep
 * them, and a logger whose lines the test can read.
 */
import { Writable } from 'node:stream';
import { API_VERSION, type IPPool, type TerraceNode, validateResource } from '@terrace/api';
import { type BgpPathReport, EtcdResourceStore, Keys, decodeRouteQuery, putRouteAnswer } from '@terrace/datastore';
import { sharedEtcdEndpoint, uniqueCluster } from '@terrace/testkit';
import { Etcd3, type Lease, type Watcher } from 'etcd3';
import winston from 'winston';
import { Controller, type ControllerOptions } from '../src/controller.js';
import type { Logger } from '@terrace/log';

export interface LogLine {
  level: string;
  message: string;
  [k: string]: unknown;
}

/** A JSON logger that keeps its lines in memory. */
export function memoryLogger(identity: string): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  const log = winston.createLogger({ level: 'debug', defaultMeta: { controller: identity }, format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
  return { log, lines };
}

export interface Harness {
  keys: Keys;
  /** The test's own client (not used by any controller). */
  etcd: Etcd3;
  store: EtcdResourceStore;
  controllers: { c: Controller; etcd: Etcd3; lines: LogLine[] }[];
  leases: Lease[];
  startController(identity: string, opts?: Partial<ControllerOptions>): Promise<{ c: Controller; etcd: Etcd3; lines: LogLine[] }>;
  /**
   * Registers a node and keeps its liveness key on a lease (revoke the lease to "kill" the agent).
   * While its key exists it answers route queries as an agent does, learning over BGP what
   * `learns` says (default nothing).
   */
  aliveNode(name: string, learns?: (prefix: string) => BgpPathReport[]): Promise<Lease>;
  close(): Promise<void>;
}

export function harness(tag: string): Harness {
  const endpoint = sharedEtcdEndpoint();
  const etcd = new Etcd3({ hosts: endpoint });
  const keys = new Keys(uniqueCluster(tag));
  const store = new EtcdResourceStore(etcd, keys);
  const learning = new Map<string, (prefix: string) => BgpPathReport[]>();
  let answering: Promise<Watcher> | undefined;
  /** Answers each route query for every fake node whose liveness key exists, as its agent would. */
  const answer = async (text: string): Promise<void> => {
    const q = decodeRouteQuery(text);
    for (const [node, learns] of learning) {
      if ((await etcd.get(keys.alive(node)).string()) === null) continue;
      const results = q.prefixes.map((prefix) => ({ prefix, originated: false, kernel: [], bgp: learns(prefix) }));
      await putRouteAnswer(etcd, keys, q, { node, backend: 'gobgp', answeredAt: new Date().toISOString(), results }).catch(() => undefined);
    }
  };
  const h: Harness = {
    keys,
    etcd,
    store,
    controllers: [],
    leases: [],
    async startController(identity, opts = {}) {
      const cetcd = new Etcd3({ hosts: endpoint });
      const { log, lines } = memoryLogger(identity);
      const c = new Controller({
        etcd: cetcd,
        keys,
        store: new EtcdResourceStore(cetcd, keys),
        log,
        identity,
        nodeGraceMs: 1000,
        intervalMs: 60_000,
        // 5 s, not less: a loaded machine can stall a controller for a second
        // or two, and a shorter lease then runs out under a live leader.
        leaseTtlSeconds: 5,
        electionRetryMs: 100,
        ...opts,
      });
      const entry = { c, etcd: cetcd, lines };
      h.controllers.push(entry);
      await c.start();
      return entry;
    },
    async aliveNode(name, learns = () => []) {
      learning.set(name, learns);
      answering ??= etcd
        .watch()
        .prefix(keys.queryPrefix())
        .create()
        .then((w) => w.on('put', (kv) => void answer(kv.value.toString())));
      await answering;
      const node: TerraceNode = { apiVersion: API_VERSION, kind: 'Node', metadata: { name }, spec: {} };
      await store.applyAll([node]);
      const lease = etcd.lease(5);
      await lease.put(keys.alive(name)).value(JSON.stringify({ node: name })).exec();
      h.leases.push(lease);
      return lease;
    },
    async close() {
      for (const { c, etcd: e } of h.controllers) {
        await c.stop().catch(() => undefined);
        e.close();
      }
      for (const l of h.leases) await l.revoke().catch(() => l.release());
      await (await answering)?.cancel();
      await etcd.delete().prefix(keys.prefix).exec();
      etcd.close();
    },
  };
  return h;
}

export function pool(name: string, cidr: string, blockSize?: number): IPPool {
  return validateResource({ apiVersion: API_VERSION, kind: 'IPPool', metadata: { name }, spec: blockSize === undefined ? { cidr } : { cidr, blockSize } }) as IPPool;
}

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
