import { describe, expect, it } from '@jest/globals';
import { KINDS, kindAliases, resolveKind } from '../src/index.js';

describe('resolveKind', () => {
  it.each([
    ['ippool', 'IPPool'], ['IPPools', 'IPPool'], ['pool', 'IPPool'], ['POOLS', 'IPPool'],
    ['bgppeer', 'BGPPeer'], ['BGPPeers', 'BGPPeer'], ['peer', 'BGPPeer'], ['peers', 'BGPPeer'],
    ['bgpconfiguration', 'BGPConfiguration'], ['bgpconfigurations', 'BGPConfiguration'],
    ['bgpconfig', 'BGPConfiguration'], ['BGPConfigs', 'BGPConfiguration'],
    ['node', 'Node'], ['nodes', 'Node'], ['no', 'Node'],
    ['ipamconfig', 'IPAMConfig'], ['ipamconfigs', 'IPAMConfig'], ['IPAMConfiguration', 'IPAMConfig'],
  ])('%s → %s', (alias, kind) => {
    expect(resolveKind(alias)).toBe(kind);
  });

  it('resolves every canonical kind name', () => {
    for (const k of KINDS) {
      expect(resolveKind(k)).toBe(k);
      expect(kindAliases(k)[0]).toBe(k.toLowerCase());
    }
  });

  it('refuses an unknown kind and lists the known ones', () => {
    expect(() => resolveKind('poolz')).toThrow('unknown kind "poolz"; known kinds: IPPool (ippools, pool, pools), BGPPeer');
    expect(() => resolveKind('')).toThrow('unknown kind ""');
  });
});
