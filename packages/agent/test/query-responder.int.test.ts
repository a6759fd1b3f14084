/**
 * The agent's route-query responder against a real etcd of its own, which
 * the tests compact and restart: the responder must keep answering across
 * both (it lists queries/ again rather than resume a watch whose start
 * revision is gone). The node's view is a fixed NodeView: what is under test
 * is the watch and the batching, not the kernel read (route-query.int.test).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Keys, MAX_QUERY_PREFIXES, QUERY_LEASE_TTL_S, askAgents, connect, resolveConnectionConfig } from '@terrace/datastore';
import { silentLogger } from '@terrace/log';
import { type RestartableEtcd, restartableEtcd, uniqueCluster, waitFor } from '@terrace/testkit';
import type { Etcd3 } from 'etcd3';
import { type NodeView, QueryResponder } from '../src/query-answer.js';

const BLOCK = '198.19.40.0/26';
const view: NodeView = { originated: [BLOCK], learned: new Map(), kernel: [] };

let r: RestartableEtcd;
let etcd: Etcd3;
let keys: Keys;

beforeAll(async () => {
  r = await restartableEtcd('rq-responder');
  const cluster = uniqueCluster('rqr');
  etcd = await connect(resolveConnectionConfig({ etcdEndpoints: r.endpoint, cluster }, {}, '/nonexistent'));
  keys = new Keys(cluster);
}, 30000);

afterAll(async () => {
  etcd?.close();
  await r?.remove();
}, 30000);

const ask = (node: string, timeoutMs = 3000): ReturnType<typeof askAgents> => askAgents(etcd, keys, [BLOCK], { timeoutMs, askedBy: 'test', expect: [node] });

describe('route query responder', () => {
  it('keeps answering after etcd was compacted past its watch and restarted', async () => {
    const responder = new QueryResponder({ etcd, keys, node: 'n1', backend: 'gobgp', log: silentLogger(), look: async () => view, retryMs: 50 });
    await responder.start();
    try {
      expect((await ask('n1')).answers.map((a) => a.results[0]?.originated)).toEqual([true]);
      // Revisions the responder's watch never sees, then compaction past them.
      for (let i = 0; i < 5; i++) await etcd.put(`/elsewhere/${i}`).value('x');
      const head = await etcd.get('/elsewhere/0').exec();
      await etcd.kv.compact({ revision: head.header.revision, physical: true });
      await r.stop();
      await r.start();
      const after = await waitFor(
        'an answer after the restart',
        async () => {
          const res = await ask('n1').catch(() => undefined);
          return res && res.missing.length === 0 ? res : undefined;
        },
        30000,
      );
      expect(after.answers.map((a) => a.node)).toEqual(['n1']);
    } finally {
      await responder.stop();
    }
  }, 60000);

  it('answers "starting" until ready, then from its look', async () => {
    const responder = new QueryResponder({ etcd, keys, node: 'n2', backend: 'bird', log: silentLogger() });
    await responder.start();
    try {
      const early = await ask('n2');
      expect(early.answers).toEqual([expect.objectContaining({ node: 'n2', state: 'starting', results: [] })]);
      responder.ready(async () => view);
      const later = await ask('n2');
      expect(later.answers[0]?.state).toBeUndefined();
      expect(later.answers[0]?.results[0]?.originated).toBe(true);
    } finally {
      await responder.stop();
    }
  }, 30000);

  it('looks once at a time: queries arriving during a look share the next one', async () => {
    let looks = 0;
    let inLook = 0;
    let maxInLook = 0;
    const slowLook = async (): Promise<NodeView> => {
      looks++;
      maxInLook = Math.max(maxInLook, ++inLook);
      await new Promise((res) => setTimeout(res, 1000));
      inLook--;
      return view;
    };
    const responder = new QueryResponder({ etcd, keys, node: 'n3', backend: 'gobgp', log: silentLogger(), look: slowLook });
    await responder.start();
    try {
      const asked = await Promise.all(Array.from({ length: 6 }, () => ask('n3', 10000)));
      expect(asked.map((a) => a.missing)).toEqual(Array.from({ length: 6 }, () => []));
      expect(maxInLook).toBe(1);
      expect(looks).toBeLessThan(6);
    } finally {
      await responder.stop();
    }
  }, 60000);

  it(`refuses more than ${MAX_QUERY_PREFIXES} prefixes before writing anything`, async () => {
    const many = Array.from({ length: MAX_QUERY_PREFIXES + 1 }, (_, i) => `198.19.41.${i}`);
    await expect(askAgents(etcd, keys, many, { timeoutMs: 1000, askedBy: 'test', expect: ['n1'] })).rejects.toThrow(
      `route query: ${MAX_QUERY_PREFIXES + 1} prefixes, at most ${MAX_QUERY_PREFIXES} per query`,
    );
    expect(await etcd.getAll().prefix(keys.queryPrefix()).keys()).toEqual([]);
  });

  it("answers a query whose askedAt is long past while its lease lives (the asker's clock is behind ours)", async () => {
    const responder = new QueryResponder({ etcd, keys, node: 'n4', backend: 'gobgp', log: silentLogger(), look: async () => view });
    const lease = etcd.lease(QUERY_LEASE_TTL_S, { autoKeepAlive: false });
    try {
      const id = 'behind-1';
      // Written as a controller whose wall clock was set back ten minutes writes it.
      const askedAt = new Date(Date.now() - 10 * 60_000).toISOString();
      await etcd.put(keys.query(id)).value(JSON.stringify({ id, prefixes: [BLOCK], askedBy: 'test', askedAt, lease: await lease.grant() }));
      await responder.start();
      const answer = await waitFor('the answer', async () => (await etcd.getAll().prefix(keys.queryAnswerPrefix(id)).keys()).length > 0 || undefined, 10000);
      expect(answer).toBe(true);
      await etcd.delete().key(keys.query(id));
    } finally {
      await responder.stop();
      await lease.revoke().catch(() => undefined);
    }
  }, 30000);
});
