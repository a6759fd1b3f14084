/**
 * checkSet, the rules `validate` and `apply` run across the input: fast on
 * many pools, and its messages name both resources.
 */
import { describe, expect, it } from '@jest/globals';
import { type IPPool, type Resource, type TerraceNode, validateResource } from '@terrace/api';
import { checkSet } from '../src/actions/manifests.js';
import { cpuMsSince } from '@terrace/testkit';

const pool = (name: string, cidr: string): IPPool =>
  validateResource({ apiVersion: 'terrace.dev/v1', kind: 'IPPool', metadata: { name }, spec: { cidr, blockSize: cidr.includes(':') ? 122 : 26 } }) as IPPool;
const node = (name: string, ipv4Address: string): TerraceNode =>
  validateResource({ apiVersion: 'terrace.dev/v1', kind: 'Node', metadata: { name }, spec: { bgp: { ipv4Address } } }) as TerraceNode;

/** 10,000 disjoint pools, half IPv4 and half IPv6, interleaved. */
function manyPools(): IPPool[] {
  const out: IPPool[] = [];
  for (let i = 0; i < 10000; i++) {
    out.push(i % 2 === 0 ? pool(`p-${i}`, `10.${(i >> 9) & 255}.${(i >> 1) & 255}.0/24`) : pool(`p-${i}`, `fd00:${(i >> 1).toString(16)}::/64`));
  }
  return out;
}

function message(resources: Resource[]): string | undefined {
  try {
    checkSet(resources);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

describe('checkSet', () => {
  it('checks 10,000 pools in well under a second, and names both pools of an overlap', () => {
    const pools = manyPools();
    // CPU time, not wall clock: a loaded machine may keep the test off the CPU
    // for a second, but only a slow algorithm uses a second of CPU.
    let t0 = process.cpuUsage();
    expect(message(pools)).toBeUndefined();
    // About 40 ms on a busy 2-core machine; the pairwise check took over a minute.
    expect(cpuMsSince(t0)).toBeLessThan(1000);

    pools.push(pool('late', '10.3.0.0/16'));
    t0 = process.cpuUsage();
    expect(message(pools)).toBe('ippool/late: spec.cidr 10.3.0.0/16 overlaps ippool/p-1536 (10.3.0.0/24)');
    expect(cpuMsSince(t0)).toBeLessThan(1000);
  });

  it('names a pool holding the address of a node in the input, and the node', () => {
    expect(message([pool('a', '10.20.0.0/16'), node('n1', '10.30.0.1/16'), node('n2', '10.20.7.9/16')])).toBe(
      "ippool/a: spec.cidr 10.20.0.0/16 contains 10.20.7.9, the address of node/n2 (spec.bgp.ipv4Address); pods would be given the node's own address",
    );
    expect(message([pool('a', '10.20.0.0/16'), node('n1', '10.30.0.1/16')])).toBeUndefined();
  });
});
