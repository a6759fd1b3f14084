/**
 * The resources the fabric lab starts with, as an operator would apply them:
 * no node mesh (nodes learn everything through their ToRs), one BGPPeer per
 * ToR and family, chosen by the node's `rack` label, with `sourceAddress:
 * None` (the node address is on the loopback; the kernel picks the uplink's
 * own address for each session), and an IPv4 and an IPv6 pool.
 */
import { poolManifest } from './manifests.js';
import { FABRIC_POOL_V6, KEEPALIVE, LAB_BFD, PLANES, POOL_A, planeNet, rackAsn } from './plan.js';

export function fabricManifests(racks: number): string {
  const docs = [
    [
      'apiVersion: terrace.dev/v1',
      'kind: BGPConfiguration',
      'metadata:',
      '  name: default',
      'spec:',
      '  nodeToNodeMeshEnabled: false',
      `  keepaliveTime: ${KEEPALIVE}`,
      '',
    ].join('\n'),
  ];
  for (let rack = 1; rack <= racks; rack++) {
    for (const plane of PLANES) {
      const tor = planeNet(rack, plane).tor;
      for (const [suffix, ip] of [['', tor.v4], ['-v6', tor.v6]] as const) {
        docs.push(
          [
            'apiVersion: terrace.dev/v1',
            'kind: BGPPeer',
            'metadata:',
            `  name: rack-r${rack}-tor-${plane}${suffix}`,
            'spec:',
            `  peerIP: "${ip}"`,
            `  asNumber: ${rackAsn(rack)}`,
            `  nodeSelector: "rack == 'r${rack}'"`,
            '  sourceAddress: None',
            `  keepaliveTime: ${KEEPALIVE}`,
            // BIRD nodes run it themselves, GoBGP nodes through their agent.
            '  bfd:',
            `    interval: ${LAB_BFD.intervalMs}ms`,
            `    multiplier: ${LAB_BFD.multiplier}`,
            '',
          ].join('\n'),
        );
      }
    }
  }
  docs.push(...[POOL_A, FABRIC_POOL_V6].map(poolManifest));
  return docs.join('---\n');
}
