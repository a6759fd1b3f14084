/** The controller's IPAM samples (Calico's families) and its election readiness. Pure. */
import { describe, expect, it } from '@jest/globals';
import { API_VERSION, type IPPool, validateResource } from '@terrace/api';
import type { BlockRecord } from '@terrace/ipam';
import { parseControllerArgs } from '../src/config.js';
import { ipamSamples, poolNodeKey } from '../src/ipam-metrics.js';
import { electionCheck } from '../src/serve-metrics.js';

function pool(name: string, cidr: string): IPPool {
  return validateResource({ apiVersion: API_VERSION, kind: 'IPPool', metadata: { name }, spec: { cidr, blockSize: cidr.includes(':') ? 122 : 26 } }) as IPPool;
}

function block(cidr: string, affine: string | null, nodes: string[]): BlockRecord {
  const allocations: BlockRecord['allocations'] = {};
  nodes.forEach((node, i) => {
    allocations[String(i)] = { node, handle: `h-${cidr}-${i}`, seq: i + 1, time: 0 };
  });
  return { cidr, affinity: affine === null ? null : `host:${affine}`, seq: nodes.length, next: nodes.length, allocations };
}

describe('ipamSamples', () => {
  const pools = [pool('pool-a', '10.244.0.0/16'), pool('pool-v6', '2001:db8:1::/120')];
  const blocks = [
    block('10.244.0.0/26', 'n1', ['n1', 'n1', 'n2']),
    block('10.244.0.64/26', 'n2', ['n2']),
    block('10.244.0.128/26', null, ['n3']),
    block('2001:db8:1::/122', 'n1', []),
    block('10.99.0.0/26', 'n1', ['n1']),
  ];
  const s = ipamSamples(pools, blocks, new Set(['n2']));
  const k = poolNodeKey;

  it('in use by pool and the node the address is used on; borrowed when the block is another node\'s', () => {
    expect(s.inUse).toEqual(new Map([[k('pool-a', 'n1'), 2], [k('pool-a', 'n2'), 2], [k('pool-a', 'n3'), 1], [k('', 'n1'), 1]]));
    expect(s.borrowed).toEqual(new Map([[k('pool-a', 'n2'), 1], [k('pool-a', 'n3'), 1]]));
  });

  it('blocks by pool and affine node; a block without affinity under node ""; pool sizes', () => {
    expect(s.blocks).toEqual(new Map([[k('pool-a', 'n1'), 1], [k('pool-a', 'n2'), 1], [k('pool-a', ''), 1], [k('pool-v6', 'n1'), 1], [k('', 'n1'), 1]]));
    expect(s.poolSize).toEqual(new Map([['pool-a', 65536], ['pool-v6', 256]]));
  });

  it('GC candidates: the addresses of nodes in their grace period', () => {
    expect(s.gcCandidates).toEqual(new Map([[k('pool-a', 'n2'), 2]]));
    expect(ipamSamples(pools, blocks, new Set()).gcCandidates.size).toBe(0);
  });
});

describe('controller readiness and flag', () => {
  it('ready in the election when leading or standing by behind a known leader', () => {
    expect(electionCheck(false, false, undefined).ok).toBe(false);
    expect(electionCheck(true, true, 'me')).toMatchObject({ ok: true, detail: 'leader' });
    expect(electionCheck(true, false, 'other')).toMatchObject({ ok: true, detail: 'standby; leader is other' });
    expect(electionCheck(true, false, undefined)).toMatchObject({ ok: false });
  });

  it('--metrics-listen defaults to 0.0.0.0:9094', () => {
    expect(parseControllerArgs([], { host: 'h', pid: 1 }).metricsListen).toEqual({ host: '0.0.0.0', port: 9094 });
    expect(parseControllerArgs(['--metrics-listen', 'off'], { host: 'h', pid: 1 }).metricsListen).toBeUndefined();
    expect(() => parseControllerArgs(['--metrics-listen', 'nope'], { host: 'h', pid: 1 })).toThrow('flag --metrics-listen "nope" must be HOST:PORT');
  });
});
