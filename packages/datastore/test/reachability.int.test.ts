/**
 * EtcdReachability against a real etcd that goes away and comes back: the
 * observer connect() takes sees every call with its outcome, and a check
 * after a quiet spell probes by itself.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Etcd3 } from 'etcd3';
import { connect } from '../src/client.js';
import { resolveConnectionConfig } from '../src/config.js';
import { Keys } from '../src/keys.js';
import { EtcdReachability } from '../src/reachability.js';
import { type RestartableEtcd, restartableEtcd } from '@terrace/testkit';

let etcdd: RestartableEtcd;
let etcd: Etcd3;
const calls: { seconds: number; code: string | undefined }[] = [];
const reach = new EtcdReachability({ freshMs: 300, probeTimeoutMs: 1000 });
const keys = new Keys('reach');

beforeAll(async () => {
  etcdd = await restartableEtcd('reach');
  const cfg = resolveConnectionConfig({ etcdEndpoints: etcdd.endpoint, cluster: 'reach' }, {}, '/nonexistent/terrace.yaml');
  etcd = await connect(cfg, {
    timeoutMs: 1500,
    observe: (seconds, error) => {
      calls.push({ seconds, code: error?.code });
      reach.observe(seconds, error);
    },
  });
  reach.probeWith(etcd, keys.prefix);
}, 60_000);

afterAll(async () => {
  etcd?.close();
  await etcdd?.remove();
});

describe('etcd reachability', () => {
  it('sees connect()\'s probe and every later call, with its outcome', async () => {
    expect(calls.length).toBeGreaterThanOrEqual(1);
    await etcd.put(`${keys.prefix}x`).value('1').exec();
    expect(calls.at(-1)).toMatchObject({ code: undefined });
    expect(calls.at(-1)!.seconds).toBeGreaterThan(0);
    expect(await reach.check()).toMatchObject({ ok: true });
  });

  it('not reachable once a call fails; reachable again after one succeeds', async () => {
    await etcdd.stop();
    try {
      await expect(etcd.get(`${keys.prefix}x`).exec()).rejects.toThrow();
      expect(calls.at(-1)).toMatchObject({ code: 'Unavailable' });
      expect(await reach.check()).toMatchObject({ ok: false, detail: expect.stringMatching(/^last etcd request failed .*etcd unreachable at/) });
    } finally {
      await etcdd.start();
    }
    // No call of ours since: the check probes by itself once the last answer is older than freshMs.
    let r = await reach.check();
    for (let i = 0; i < 40 && !r.ok; i++) {
      await new Promise((res) => setTimeout(res, 400));
      r = await reach.check();
    }
    expect(r).toMatchObject({ ok: true });
  }, 60_000);
});
