// `terracectl controller status` rendering (pure, fixed clock).
import { describe, expect, it } from '@jest/globals';
import type { ControllerStatus } from '@terrace/api';
import { formatSeconds, renderControllerStatus } from '../src/commands/controller.js';

const now = new Date('2025-01-01T12:00:00Z');
const status: ControllerStatus = {
  leader: 'ctl1-4242',
  leaderSince: '2025-01-01T11:00:00Z',
  lastPass: '2025-01-01T11:59:50Z',
  passes: 120,
  lastPassMs: 42,
  graceSeconds: 300,
  intervalSeconds: 30,
  nodes: [
    { node: 'node1', state: 'alive', addresses: 12, blocks: 1 },
    { node: 'node2', state: 'grace', goneSince: '2025-01-01T11:58:00Z', graceRemainingSeconds: 190, addresses: 7, blocks: 1 },
    { node: 'node3', state: 'released', goneSince: '2025-01-01T11:40:00Z', addresses: 0, blocks: 0 },
  ],
  totals: { nodesReleased: 1, blocksReleased: 2, addressesFreed: 18, poolsCreated: 1 },
  errors: [],
};

describe('terracectl controller status', () => {
  it('prints the leader, the totals and every node with the grace time left', () => {
    expect(renderControllerStatus(status, 'ctl1-4242', now)).toBe(
      [
        'Leader ctl1-4242 since 60m ago; last pass 10s ago (pass 120, 42 ms)',
        'Node grace period 5m, pass interval 30s.',
        'Since elected: 1 node released, 18 addresses freed, 2 blocks released, 1 pool created.',
        'NODE    STATE      GONE FOR   TIME LEFT   ADDRESSES   BLOCKS',
        'node1   alive      -          -           12          1',
        'node2   grace      2m         3m          7           1',
        'node3   released   20m        -           0           0',
        '',
      ].join('\n'),
    );
  });

  it('says when the report is stale, the writer gone, or someone else now leads', () => {
    const old = { ...status, lastPass: '2025-01-01T11:50:00Z', nodes: [], errors: [{ time: '2025-01-01T11:50:00Z', message: 'read cluster state: etcd unreachable' }] };
    const out = renderControllerStatus(old, undefined, now);
    expect(out).toContain('(pass 120, 42 ms) STALE\n');
    expect(out).toContain('No controller is running now: this is the last report.\n');
    expect(out).toContain('No nodes.\nRecent errors:\n  10m ago: read cluster state: etcd unreachable\n');
    expect(renderControllerStatus(status, 'ctl2-1', now)).toContain('The election now names ctl2-1; it has not reported yet.');
  });

  it('without any report', () => {
    expect(renderControllerStatus(undefined, undefined, now)).toBe('No controller status: no terrace-controller has run in this cluster.\n');
    expect(renderControllerStatus(undefined, 'ctl1', now)).toBe('Controller ctl1 leads but has not finished a pass yet.\n');
  });

  it('formats seconds', () => {
    expect([0, 59, 60, 75, 3600, 7260].map(formatSeconds)).toEqual(['0s', '59s', '1m', '1m15s', '1h', '2h1m']);
  });
});
