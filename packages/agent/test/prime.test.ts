import { describe, expect, it } from '@jest/globals';
import { primeLearnedPath } from '../src/prime.js';

describe('primeLearnedPath', () => {
  it('takes every route its synthetic feed selects through the route rule and the encoder', () => {
    // Each 'set' event of the feed: 3,000 /32s, then for 187 blocks node B's
    // path, the ECMP set with node C, the IPv6 /64 and B alone after C goes down.
    expect(primeLearnedPath()).toBe(3000 + 4 * (3000 >> 4));
  });
});
