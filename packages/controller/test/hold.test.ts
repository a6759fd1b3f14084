import { describe, expect, test } from '@jest/globals';
import type { RouteAnswer } from '@terrace/datastore';
import { announcedBy, planHolds } from '../src/hold.js';

function answer(node: string, results: RouteAnswer['results'], error?: string): RouteAnswer {
  return { node, backend: 'gobgp', answeredAt: '2026-01-01T00:00:00Z', results, ...(error ? { error } : {}) };
}
const path = (prefix: string, nextHop: string) => ({ prefix, nextHop, peer: '', best: true, asPath: [] });
const candidates = [
  { node: 'dead', prefixes: ['198.19.5.0/26', '198.19.9.7/32'] },
  { node: 'gone', prefixes: ['198.19.6.0/26'] },
];

describe('announcedBy', () => {
  test('affine blocks, and the host prefix of each address held in a block that is not the node’s', () => {
    const held = [
      { ip: '198.19.5.1', block: '198.19.5.0/26', handle: 'a' },
      { ip: '198.19.9.7', block: '198.19.9.0/26', handle: 'b' },
      { ip: '2001:db8::5', block: '2001:db8::/122', handle: 'c' },
    ];
    expect(announcedBy({ addresses: 3, blocks: ['198.19.5.0/26'], emptyBlocks: [] }, held)).toEqual(['198.19.5.0/26', '198.19.9.7/32', '2001:db8::5/128']);
    expect(announcedBy(undefined, [])).toEqual([]);
  });
});

describe('planHolds', () => {
  test('a live agent learning one of a dead node’s prefixes holds that node only, naming prefix, agent and next hop', () => {
    const answers = [
      answer('n1', [
        { prefix: '198.19.5.0/26', originated: false, kernel: [], bgp: [] },
        { prefix: '198.19.9.7/32', originated: false, kernel: [], bgp: [path('198.19.9.7/32', '198.18.1.1')] },
        { prefix: '198.19.6.0/26', originated: false, kernel: [], bgp: [] },
      ]),
    ];
    expect(planHolds({ candidates, liveAgents: 1, answers })).toEqual({
      release: ['gone'],
      held: [{ node: 'dead', reason: '198.19.9.7/32 still announced, learned by n1 via 198.18.1.1' }],
    });
  });

  test('a covering route (a default or an aggregate from the ToR) is no evidence', () => {
    const answers = [answer('n1', [{ prefix: '198.19.6.0/26', originated: false, kernel: [], bgp: [path('0.0.0.0/0', '198.18.0.1'), path('198.19.0.0/16', '198.18.0.1')] }])];
    expect(planHolds({ candidates: [candidates[1] as (typeof candidates)[number]], liveAgents: 1, answers })).toEqual({ release: ['gone'], held: [] });
  });

  test('live agents but no usable answer: hold everything, saying why', () => {
    expect(planHolds({ candidates, liveAgents: 2, answers: [] }).held).toEqual([
      { node: 'dead', reason: 'could not confirm that its routes are gone: none of the 2 live agents answered in time' },
      { node: 'gone', reason: 'could not confirm that its routes are gone: none of the 2 live agents answered in time' },
    ]);
    expect(planHolds({ candidates, liveAgents: 1, answers: [answer('n1', [], 'netlink relay exited')] }).release).toEqual([]);
    expect(planHolds({ candidates, liveAgents: 1, answers: undefined, askError: 'etcd unreachable' }).held[0]?.reason).toBe('could not confirm that its routes are gone: etcd unreachable');
  });

  test('an agent still starting is no evidence either way', () => {
    const starting = { ...answer('n1', []), state: 'starting' as const };
    expect(planHolds({ candidates, liveAgents: 1, answers: [starting] })).toEqual({
      release: [],
      held: [
        { node: 'dead', reason: 'could not confirm that its routes are gone: none of the 1 live agent answered in time (1 still starting)' },
        { node: 'gone', reason: 'could not confirm that its routes are gone: none of the 1 live agent answered in time (1 still starting)' },
      ],
    });
    expect(planHolds({ candidates, liveAgents: 2, answers: [starting, answer('n2', [])] }).release).toEqual(['dead', 'gone']);
  });

  test('no live agent: hold until one can answer', () => {
    const reason = 'could not confirm that its routes are gone: no live agent to ask';
    expect(planHolds({ candidates, liveAgents: 0, answers: undefined })).toEqual({ release: [], held: [{ node: 'dead', reason }, { node: 'gone', reason }] });
  });

  test('an answer in the dead node’s own name is no evidence', () => {
    const answers = [answer('dead', [{ prefix: '198.19.5.0/26', originated: true, kernel: [], bgp: [path('198.19.5.0/26', '198.18.1.1')] }])];
    expect(planHolds({ candidates, liveAgents: 1, answers }).release).toEqual(['dead', 'gone']);
  });
});
