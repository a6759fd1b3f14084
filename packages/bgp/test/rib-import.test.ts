/** The agent's Adj-RIB-In applies each session's import rules, as gobgpd's import policy does. */
import { describe, expect, test } from '@jest/globals';
import { formatPrefix, packCidr, packIP, parseCidr, parseIP, type BGPFilter, type IPPool } from '@terrace/api';
import { AdjRibIn } from '../src/bmp/rib.js';
import type { BgpUpdate, BmpPeer } from '../src/bmp/types.js';
import { compilePolicy } from '../src/policy.js';

const TOR: BmpPeer = { key: '198.18.0.1', address: parseIP('198.18.0.1'), asn: 65000, bgpId: 1 };
const MESH: BmpPeer = { key: '198.18.0.12', address: parseIP('198.18.0.12'), asn: 64512, bgpId: 2 };

function update(from: BmpPeer, prefixes: string[]): BgpUpdate {
  const hop = packIP(from.address);
  return {
    withdrawn: [],
    announced: prefixes.map((p) => packCidr(parseCidr(p))),
    attrs: { nextHop: hop, origin: 0, asPathLen: 1, firstAs: from.asn, asns: from.asn === 64512 ? [] : [from.asn], localPref: undefined, med: undefined, originatorId: undefined, clusterList: [] },
    endOfRib: undefined,
  };
}

const pool: IPPool = {
  apiVersion: 'terrace.dev/v1', kind: 'IPPool', metadata: { name: 'a' },
  spec: { cidr: '198.19.0.0/16', blockSize: 26, nodeSelector: 'all()', disabled: false, disableBGPExport: false, natOutgoing: false, allowedUses: ['Workload'], assignmentMode: 'Automatic', ipipMode: 'Never', vxlanMode: 'Never' },
};
const takeDefault: BGPFilter = { apiVersion: 'terrace.dev/v1', kind: 'BGPFilter', metadata: { name: 'd' }, spec: { importV4: [{ action: 'Accept', matchOperator: 'Equal', cidr: '0.0.0.0/0' }] } };
const rules = (names: string[]) => compilePolicy({ pools: [pool], filters: new Map([['d', takeDefault]]), names, where: 'x' }).policy.import;

const held = (rib: AdjRibIn): string[] => [...rib.snapshot().keys()].map(formatPrefix).sort();

describe('AdjRibIn import rules', () => {
  test('a session with the default policy brings in pool prefixes only; a peer without rules, everything', () => {
    const rib = new AdjRibIn({ localAsn: 64512, routerId: 9 });
    rib.setImportPolicy(new Map([[TOR.key, rules([])]]));
    rib.update(TOR, update(TOR, ['0.0.0.0/0', '198.18.77.0/24', '198.19.1.0/26']));
    rib.update(MESH, update(MESH, ['198.18.88.0/24']));
    expect(held(rib)).toEqual(['198.18.88.0/24', '198.19.1.0/26']);
  });

  test('a filter accepting the default route lets it in; a path the rules now reject replaces nothing', () => {
    const rib = new AdjRibIn({ localAsn: 64512, routerId: 9 });
    rib.setImportPolicy(new Map([[TOR.key, rules(['d'])]]));
    rib.update(TOR, update(TOR, ['0.0.0.0/0', '198.18.77.0/24']));
    expect(held(rib)).toEqual(['0.0.0.0/0']);
    // The rules change and the peer's table comes again (the speaker resets the feed): the default route goes.
    rib.setImportPolicy(new Map([[TOR.key, rules([])]]));
    const events = rib.update(TOR, update(TOR, ['0.0.0.0/0']));
    expect(events.map((e) => `${e.kind} ${formatPrefix(e.prefix)}`)).toEqual(['withdraw 0.0.0.0/0']);
    expect(held(rib)).toEqual([]);
  });
});
