import { describe, expect, it } from '@jest/globals';
import { checkBfdPeers } from '../src/bfd/manager.js';

describe('BFD desired set validation', () => {
  it('accepts a valid set of IPv4 and IPv6 peers', () => {
    expect(() =>
      checkBfdPeers([
        { address: '198.18.0.1', intervalMs: 300, multiplier: 3 },
        { address: '2001:db8::1', localAddress: '2001:db8::2', intervalMs: 10, multiplier: 255 },
      ]),
    ).not.toThrow();
  });

  const bad: Array<[string, Parameters<typeof checkBfdPeers>[0], RegExp]> = [
    ['an address that is not an IP', [{ address: 'tor', intervalMs: 300, multiplier: 3 }], /"tor" is not a valid IP address/],
    ['an interval of 0', [{ address: '198.18.0.1', intervalMs: 0, multiplier: 3 }], /^bfd peer 198\.18\.0\.1: interval 0 ms is not/],
    ['a fractional interval', [{ address: '198.18.0.1', intervalMs: 1.5, multiplier: 3 }], /interval 1\.5 ms/],
    ['a multiplier of 0', [{ address: '198.18.0.1', intervalMs: 300, multiplier: 0 }], /multiplier 0 is not in 1–255/],
    ['a multiplier over 255', [{ address: '198.18.0.1', intervalMs: 300, multiplier: 256 }], /multiplier 256/],
    ['a local address of the other family', [{ address: '198.18.0.1', localAddress: '2001:db8::2', intervalMs: 300, multiplier: 3 }], /not of the peer's family/],
    ['the same peer twice (spelled two ways)', [{ address: '2001:db8::1', intervalMs: 300, multiplier: 3 }, { address: '2001:DB8:0::1', intervalMs: 300, multiplier: 3 }], /2001:db8::1: listed twice/],
  ];
  for (const [what, peers, why] of bad) {
    it(`refuses ${what} with a one-line error naming it`, () => {
      let msg = '';
      try {
        checkBfdPeers(peers);
      } catch (e) {
        msg = (e as Error).message;
      }
      expect(msg).toMatch(why);
      expect(msg).not.toContain('\n');
    });
  }
});
