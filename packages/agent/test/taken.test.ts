import { describe, expect, test } from '@jest/globals';
import { packCidr, packIP, parseCidr, parseIP } from '@terrace/api';
import { ROUTE_PROTOCOL, blackholeRoute, canonOf, deviceRoute, unicastRoute } from '@terrace/dataplane';
import { LocalPods, describeConflict, findConflicts, localPodAddresses } from '../src/taken.js';

const p = (c: string) => packCidr(parseCidr(c));

describe('localPodAddresses', () => {
  test('our host routes through a device only: a pod’s; not gateways, blackholes, blocks or other protocols', () => {
    const kernel = [
      { route: canonOf(deviceRoute(p('198.19.5.3/32'), 'tap1')), protocol: ROUTE_PROTOCOL },
      { route: canonOf(deviceRoute(p('2001:db8::7/128'), 'tap2')), protocol: ROUTE_PROTOCOL },
      { route: canonOf(deviceRoute(p('198.19.5.4/32'), 'tap3')), protocol: 4 },
      { route: canonOf(unicastRoute(p('198.19.9.9/32'), { via: packIP(parseIP('198.18.0.12')) })), protocol: ROUTE_PROTOCOL },
      { route: canonOf(blackholeRoute(p('198.19.5.0/26'))), protocol: ROUTE_PROTOCOL },
      { route: canonOf(deviceRoute(p('198.19.6.0/26'), 'tap4')), protocol: ROUTE_PROTOCOL },
    ];
    expect(localPodAddresses(kernel)).toEqual([
      { address: '198.19.5.3', dev: 'tap1' },
      { address: '2001:db8::7', dev: 'tap2' },
    ]);
  });
});

describe('findConflicts', () => {
  const pods = [
    { address: '198.19.5.3', dev: 'tap1' },
    { address: '198.19.5.2', dev: 'tap2' },
    { address: '198.19.5.1', dev: 'tap3' },
  ];
  test('ours is fine; another node’s or nobody’s is a conflict, naming the holder', () => {
    const holders = new Map([
      ['198.19.5.3', { node: 'me' }],
      ['198.19.5.2', { node: 'node-2', pod: 'default/t1' }],
    ]);
    const found = findConflicts('me', pods, holders);
    expect(found).toEqual([
      { address: '198.19.5.1', dev: 'tap3' },
      { address: '198.19.5.2', dev: 'tap2', holder: 'node-2', holderPod: 'default/t1' },
    ]);
    expect(found.map(describeConflict)).toEqual([
      'pod address 198.19.5.1 (device tap3) was taken from this node while it was cut off from etcd: freed in IPAM; recreate that pod',
      'pod address 198.19.5.2 (device tap2) was taken from this node while it was cut off from etcd: now allocated to node node-2 (pod default/t1); recreate that pod',
    ]);
  });
});

describe('LocalPods', () => {
  test('keeps the pods wired here even when the kernel no longer shows their route', () => {
    const pods = new LocalPods();
    pods.add([deviceRoute(p('198.19.5.3/32'), 'tap1'), deviceRoute(p('198.19.5.4/32'), 'tap2')]);
    pods.remove([deviceRoute(p('198.19.5.4/32'), 'tap2')]);
    expect(pods.with([{ address: '198.19.5.9', dev: 'tap9' }, { address: '198.19.5.3', dev: 'tap1' }])).toEqual([
      { address: '198.19.5.3', dev: 'tap1' },
      { address: '198.19.5.9', dev: 'tap9' },
    ]);
  });
});
