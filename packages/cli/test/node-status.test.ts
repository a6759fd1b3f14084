import { describe, expect, it } from '@jest/globals';
import type { NodeStatus } from '@terrace/api';
import { renderNodeStatus } from '../src/commands/node.js';

const now = new Date('2025-01-01T12:00:00Z');
const status: NodeStatus = {
  node: 'node1',
  updatedAt: '2025-01-01T11:59:57Z',
  asNumber: 64512,
  routerId: '198.18.0.11',
  addresses: ['198.18.0.11'],
  peers: [
    { address: '198.18.0.12', type: 'node-to-node mesh', source: 'node/node2', asNumber: 64512, state: 'Established', since: '2025-01-01T11:55:00Z', info: 'Established', received: 1, advertised: 1 },
    { address: '198.18.0.1', port: 1179, type: 'global', source: 'bgppeer/tor', asNumber: 65100, state: 'Active', info: 'Active: connection refused', received: 0, advertised: 0 },
  ],
  prefixes: { received: 1, advertised: 1, installed: 2 },
  advertisedPrefixes: ['10.244.0.0/26'],
};

describe('terracectl node status table', () => {
  it('shows each peer with its type, state, age of the state, and the prefix counts', () => {
    expect(renderNodeStatus('node1', status, now, 30_000)).toBe(
      [
        'Node node1: AS 64512, router id 198.18.0.11, updated 3s ago',
        'PEER ADDRESS      PEER TYPE           STATE         SINCE   INFO',
        '198.18.0.12       node-to-node mesh   Established   5m      Established',
        '198.18.0.1:1179   global              Active        -       Active: connection refused',
        'Prefixes: 1 received, 1 advertised, 2 routes installed',
        '',
      ].join('\n'),
    );
  });

  it('names the BGP backend and what became of BFD on each session', () => {
    const bird: NodeStatus = {
      ...status,
      backend: 'gobgp',
      peers: [{ ...status.peers[0]!, info: 'Idle (held down: BFD session down)', bfd: 'down' }],
    };
    const out = renderNodeStatus('node1', bird, now, 30_000);
    expect(out).toContain('Node node1: AS 64512, router id 198.18.0.11, BGP by gobgp, updated 3s ago');
    expect(out).toContain('Idle (held down: BFD session down); BFD down');
  });

  it('flags a record older than the stale limit', () => {
    const old = { ...status, updatedAt: '2025-01-01T11:59:00Z', peers: [] };
    expect(renderNodeStatus('node1', old, now, 30_000)).toBe(
      'Node node1: AS 64512, router id 198.18.0.11, updated 60s ago STALE: no report for over 30s\nNo BGP peers.\nPrefixes: 1 received, 1 advertised, 2 routes installed\n',
    );
  });

  it('adds the RIB check when the agent reports one', () => {
    const ok = { ...status, peers: [], ribCheck: { state: 'ok' as const, diverged: 0, checkedAt: '2025-01-01T11:59:50Z' } };
    expect(renderNodeStatus('node1', ok, now, 30_000).split('\n').slice(-2)).toEqual(['RIB check: ok, checked 10s ago', '']);
    const off = {
      ...status,
      peers: [],
      ribCheck: {
        state: 'diverged' as const,
        diverged: 2,
        example: '198.19.99.0/24: station says 198.18.0.99, gobgpd says no route',
        checkedAt: '2025-01-01T11:59:50Z',
      },
    };
    expect(renderNodeStatus('node1', off, now, 30_000).split('\n').slice(-2)).toEqual([
      'RIB check: diverged (2 prefixes, e.g. 198.19.99.0/24: station says 198.18.0.99, gobgpd says no route); those follow gobgpd, checked 10s ago',
      '',
    ]);
  });

  it('adds the natOutgoing table state when the agent reports one', () => {
    const last = (nat: NonNullable<NodeStatus['nat']>): string | undefined => renderNodeStatus('node1', { ...status, peers: [], nat }, now, 30_000).split('\n').at(-2);
    expect(last({ installed: true, repaired: 0 })).toBe('NAT: table inet terrace-nat in place');
    expect(last({ installed: false, repaired: 2 })).toBe('NAT: no pool has natOutgoing, no table; rewritten 2 times after changes outside Terrace');
    expect(last({ installed: false, error: 'nft -j list tables inet: cannot run nft: spawn nft ENOENT', repaired: 0 })).toBe(
      'NAT: not in sync (retrying): nft -j list tables inet: cannot run nft: spawn nft ENOENT',
    );
  });

  it('says so when a node has published nothing', () => {
    expect(renderNodeStatus('node2', undefined, now, 30_000)).toBe('Node node2: no status published (is terrace-agent running on it?)\n');
  });
});
