// The agent's view of natOutgoing: which pools the dataplane's planner gets.
import { describe, expect, it } from '@jest/globals';
import { formatCidr } from '@terrace/api';
import { planNat } from '@terrace/dataplane';
import { natPools } from '../src/nat.js';
import { pool } from './fixtures.js';

describe('natPools', () => {
  it('passes every pool, disabled ones too, with its natOutgoing flag', () => {
    const pools = [
      pool('a', '198.19.1.0/24', { natOutgoing: true }),
      pool('b', '198.19.2.0/24', { disabled: true }),
      pool('c', '198.19.3.0/24', { natOutgoing: true, disabled: true }),
    ];
    expect(natPools(pools).map((p) => [formatCidr(p.cidr), p.natOutgoing])).toEqual([
      ['198.19.1.0/24', true],
      ['198.19.2.0/24', false],
      ['198.19.3.0/24', true],
    ]);
    // A disabled pool stays a destination inside a pool, and a disabled natOutgoing pool keeps its NAT.
    const sets = Object.fromEntries((planNat(natPools(pools)) ?? []).flatMap((o) => ('set' in o ? [[o.set.name, (o.set.elem ?? []).length]] : [])));
    expect(sets).toEqual({ 'nat-pools-v4': 2, 'all-pools-v4': 3, 'nat-pools-v6': 0, 'all-pools-v6': 0 });
  });
});
