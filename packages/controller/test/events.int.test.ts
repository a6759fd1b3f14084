// The recent-events record against a real etcd: the leader records a node lost and back, appends are
// bounded and keep order, only the holder of the election key writes, a damaged record is rewritten.
import { afterAll, describe, expect, test } from '@jest/globals';
import { CONTROLLER_EVENTS_MAX, type ControllerEvent } from '@terrace/api';
import { EventLog, appendEvents, decodeEvents } from '../src/events.js';
import { harness, memoryLogger, waitFor } from './fixtures.js';

const h = harness('events');

afterAll(() => h.close());

async function stored(): Promise<ControllerEvent[]> {
  return decodeEvents(await h.etcd.get(h.keys.controllerEvents()).string());
}

describe('appendEvents / decodeEvents', () => {
  const ev = (i: number): ControllerEvent => ({ time: new Date(i * 1000).toISOString(), kind: 'node lost', subject: `n${i}`, message: `n${i} lost` });

  test('keeps the newest, in order', () => {
    const list = appendEvents([ev(1), ev(2)], [ev(3), ev(4)], 3);
    expect(list.map((e) => e.subject)).toEqual(['n2', 'n3', 'n4']);
    expect(appendEvents([], Array.from({ length: 80 }, (_, i) => ev(i))).length).toBe(CONTROLLER_EVENTS_MAX);
  });

  test('a missing or damaged record reads as empty; entries of an unknown kind are dropped', () => {
    expect(decodeEvents(null)).toEqual([]);
    expect(decodeEvents('{nope')).toEqual([]);
    expect(decodeEvents(JSON.stringify({ events: [ev(1), { ...ev(2), kind: 'weather' }, 7] }))).toEqual([ev(1)]);
  });
});

describe('the record in etcd', () => {
  test('the leader records a node lost and back', async () => {
    const { c } = await h.startController('ctl-a', { nodeGraceMs: 60_000 });
    await waitFor('leadership', () => c.isLeader());
    const lease = await h.aliveNode('n1');
    await lease.revoke();
    await waitFor('node lost recorded', async () => (await stored()).some((e) => e.kind === 'node lost' && e.subject === 'n1'));
    await h.aliveNode('n1');
    await waitFor('node back recorded', async () => (await stored()).some((e) => e.kind === 'node back' && e.subject === 'n1'));
    expect((await stored()).map((e) => e.kind)).toEqual(['node lost', 'node back']);
  }, 30000);

  test('appends are bounded and keep their order; only the holder of the election key writes', async () => {
    const { log } = memoryLogger('t');
    const key = h.keys.leaderElectionPrefix() + 'test-candidate';
    await h.etcd.put(key).value('x');
    const createRevision = (await h.etcd.get(key).exec()).kvs[0]?.create_revision as string;
    await h.etcd.delete().key(h.keys.controllerEvents());

    const ours = new EventLog({ etcd: h.etcd, keys: h.keys, log, fence: () => ({ key, createRevision }), max: 5 });
    for (let i = 0; i < 12; i++) ours.record('blocks released', `n${i}`, `n${i}: block released`);
    await ours.settled();
    expect((await stored()).map((e) => e.subject)).toEqual(['n7', 'n8', 'n9', 'n10', 'n11']);

    // A deposed leader: its election key was re-created since (another create revision).
    const stale = new EventLog({ etcd: h.etcd, keys: h.keys, log, fence: () => ({ key, createRevision: String(BigInt(createRevision) - 1n) }) });
    stale.record('node lost', 'ghost', 'must not be written');
    await stale.settled();
    // Not leading at all: nothing is even queued.
    const none = new EventLog({ etcd: h.etcd, keys: h.keys, log, fence: () => undefined });
    none.record('node lost', 'ghost', 'must not be written');
    await none.settled();
    expect((await stored()).some((e) => e.subject === 'ghost')).toBe(false);

    // A damaged record is rewritten whole.
    await h.etcd.put(h.keys.controllerEvents()).value('{damaged');
    ours.record('node back', 'n1', 'n1 back');
    await ours.settled();
    expect((await stored()).map((e) => e.subject)).toEqual(['n1']);
    await h.etcd.delete().key(key);
  }, 30000);
});
