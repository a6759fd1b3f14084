/**
 * The resources a lab starts with, as the YAML an operator would apply:
 * the cluster's BGP settings (node mesh, 1 s keepalives), the top-of-rack
 * router as a global peer, and the pod pools.
 */
import { KEEPALIVE, NODE_ASN, POOL_A, POOL_B, TOR_ASN, TOR_IP } from './plan.js';

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

export function labManifests(extraPools: readonly PoolDef[] = []): string {
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
      '',
    ].join('\n'),
    [
      'apiVersion: terrace.dev/v1',
      'kind: BGPPeer',
      'metadata:',
      '  name: tor',
      'spec:',
      `  peerIP: ${TOR_IP}`,
      `  asNumber: ${TOR_ASN}`,
      `  keepaliveTime: ${KEEPALIVE}`,
      '',
    ].join('\n'),
    ...[POOL_A, POOL_B, ...extraPools].map(poolManifest),
  ];
  return docs.join('---\n');
}
