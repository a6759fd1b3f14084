/**
 * The resources a lab starts with, as the YAML an operator would apply:
 * the cluster's BGP settings (node mesh, 1 s keepalives), the top-of-rack
 * router as a global peer (with BFD when the lab's ToR runs it, towards
 * every node: BIRD nodes run BIRD's, GoBGP nodes the agent's), and the pod
 * pools.
 */
import { KEEPALIVE, LAB_BFD, NODE_ASN, POOL_A, POOL_B, TOR_ASN, TOR_IP } from './plan.js';

export interface PoolDef {
  name: string;
  cidr: string;
  blockSize: number;
}

export function poolManifest(p: PoolDef): string {
  return [
    'apiVersion: terrace.dev/v1',
    'kind: IPPool',
    'metadata:',
    `  name: ${p.name}`,
    'spec:',
    `  cidr: ${p.cidr}`,
    `  blockSize: ${p.blockSize}`,
    '  nodeSelector: all()',
    '',
  ].join('\n');
}

function torPeer(name: string, extra: readonly string[]): string {
  return [
    'apiVersion: terrace.dev/v1',
    'kind: BGPPeer',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    `  peerIP: ${TOR_IP}`,
    `  asNumber: ${TOR_ASN}`,
    `  keepaliveTime: ${KEEPALIVE}`,
    ...extra,
    '',
  ].join('\n');
}

const bfdSpec = (indent: string): string[] => [`${indent}interval: ${LAB_BFD.intervalMs}ms`, `${indent}multiplier: ${LAB_BFD.multiplier}`];

export function labManifests(extraPools: readonly PoolDef[] = [], opts: { torBfd?: boolean } = {}): string {
  const tor = [torPeer('tor', opts.torBfd ? ['  bfd:', ...bfdSpec('    ')] : [])];
  const docs = [
    [
      'apiVersion: terrace.dev/v1',
      'kind: BGPConfiguration',
      'metadata:',
      '  name: default',
      'spec:',
      `  asNumber: ${NODE_ASN}`,
      '  nodeToNodeMeshEnabled: true',
      `  keepaliveTime: ${KEEPALIVE}`,
      // Between every two nodes, whichever backend each runs.
      '  nodeToNodeMeshBFD:',
      ...bfdSpec('    '),
      '',
    ].join('\n'),
    ...tor,
    ...[POOL_A, POOL_B, ...extraPools].map(poolManifest),
  ];
  return docs.join('---\n');
}
