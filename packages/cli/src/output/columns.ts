/**
 * Which columns `terracectl get` shows for each kind, in the default and the
 * wide view. Pure: resource in, cells out. Unset optional fields print as
 * "-" so that every row has the same number of visible cells.
 */
import type { Kind, ResourceOf } from '@terrace/api';
import { formatAge } from './age.js';

export type TableView = 'table' | 'wide';

interface Column<K extends Kind> {
  header: string;
  wideOnly?: boolean;
  cell(r: ResourceOf<K>, now: Date): string;
}

const dash = (v: unknown): string => (v === undefined || v === null || v === '' ? '-' : String(v));
const age = <K extends Kind>(): Column<K> => ({
  header: 'AGE',
  wideOnly: true,
  cell: (r, now) => formatAge(r.metadata.creationTimestamp, now),
});

const COLUMNS: { [K in Kind]: Column<K>[] } = {
  IPPool: [
    { header: 'NAME', cell: (r) => r.metadata.name },
    { header: 'CIDR', cell: (r) => r.spec.cidr },
    { header: 'BLOCKSIZE', cell: (r) => dash(r.spec.blockSize) },
    { header: 'SELECTOR', cell: (r) => dash(r.spec.nodeSelector) },
    { header: 'DISABLED', wideOnly: true, cell: (r) => dash(r.spec.disabled) },
    { header: 'ASSIGNMENT', wideOnly: true, cell: (r) => dash(r.spec.assignmentMode) },
    { header: 'NAT', wideOnly: true, cell: (r) => dash(r.spec.natOutgoing) },
    // The column says whether the pool's blocks are announced, which reads
    // more plainly than the negated field name.
    { header: 'EXPORT', wideOnly: true, cell: (r) => String(!r.spec.disableBGPExport) },
    { header: 'USES', wideOnly: true, cell: (r) => dash(r.spec.allowedUses?.join(',')) },
    age(),
  ],
  BGPPeer: [
    { header: 'NAME', cell: (r) => r.metadata.name },
    { header: 'PEERIP', cell: (r) => dash(r.spec.peerIP ?? (r.spec.peerSelector ? `(${r.spec.peerSelector})` : undefined)) },
    // Calico prints "(global)" for a peer every node uses.
    { header: 'NODE', cell: (r) => r.spec.node ?? (r.spec.nodeSelector ? `(${r.spec.nodeSelector})` : '(global)') },
    { header: 'ASN', cell: (r) => dash(r.spec.asNumber) },
    { header: 'KEEPALIVE', wideOnly: true, cell: (r) => dash(r.spec.keepaliveTime) },
    { header: 'RESTART', wideOnly: true, cell: (r) => dash(r.spec.maxRestartTime) },
    { header: 'NEXTHOP', wideOnly: true, cell: (r) => dash(r.spec.nextHopMode) },
    { header: 'TTLSECURITY', wideOnly: true, cell: (r) => dash(r.spec.ttlSecurity) },
    { header: 'PASSWORD', wideOnly: true, cell: (r) => (r.spec.password?.secretKeyRef ? 'set' : '-') },
    age(),
  ],
  BGPConfiguration: [
    { header: 'NAME', cell: (r) => r.metadata.name },
    { header: 'ASN', cell: (r) => dash(r.spec.asNumber) },
    { header: 'MESH', cell: (r) => dash(r.spec.nodeToNodeMeshEnabled) },
    { header: 'LISTENPORT', cell: (r) => dash(r.spec.listenPort) },
    { header: 'KEEPALIVE', wideOnly: true, cell: (r) => dash(r.spec.keepaliveTime) },
    { header: 'COMMUNITIES', wideOnly: true, cell: (r) => dash(r.spec.communities?.map((c) => `${c.name}=${c.value}`).join(',')) },
    { header: 'SERVICECLUSTERIPS', wideOnly: true, cell: (r) => dash(r.spec.serviceClusterIPs?.map((c) => c.cidr).join(',')) },
    age(),
  ],
  BGPFilter: [
    { header: 'NAME', cell: (r) => r.metadata.name },
    // Rule counts per list: the rules themselves are read with -o yaml.
    { header: 'IMPORTV4', cell: (r) => String(r.spec.importV4?.length ?? 0) },
    { header: 'EXPORTV4', cell: (r) => String(r.spec.exportV4?.length ?? 0) },
    { header: 'IMPORTV6', cell: (r) => String(r.spec.importV6?.length ?? 0) },
    { header: 'EXPORTV6', cell: (r) => String(r.spec.exportV6?.length ?? 0) },
    age(),
  ],
  Node: [
    { header: 'NAME', cell: (r) => r.metadata.name },
    { header: 'IPV4', cell: (r) => dash(r.spec.bgp?.ipv4Address) },
    { header: 'IPV6', cell: (r) => dash(r.spec.bgp?.ipv6Address) },
    { header: 'ASN', cell: (r) => dash(r.spec.bgp?.asNumber) },
    { header: 'RRCLUSTERID', wideOnly: true, cell: (r) => dash(r.spec.bgp?.routeReflectorClusterID) },
    age(),
  ],
  IPAMConfig: [
    { header: 'NAME', cell: (r) => r.metadata.name },
    { header: 'STRICTAFFINITY', cell: (r) => dash(r.spec.strictAffinity) },
    { header: 'MAXBLOCKSPERHOST', cell: (r) => dash(r.spec.maxBlocksPerHost) },
    { header: 'AUTOALLOCATE', wideOnly: true, cell: (r) => dash(r.spec.autoAllocateBlocks) },
    age(),
  ],
  RemoteCluster: [
    { header: 'NAME', cell: (r) => r.metadata.name },
    { header: 'CLUSTER', cell: (r) => r.spec.clusterName },
    { header: 'ENDPOINTS', cell: (r) => r.spec.etcd.endpoints.join(',') },
    { header: 'GATEWAYS', cell: (r) => dash(r.spec.gatewayNodeSelector) },
    { header: 'REMOTEGATEWAYS', wideOnly: true, cell: (r) => r.spec.remoteGatewaySelector },
    { header: 'STALEAFTER', wideOnly: true, cell: (r) => r.spec.staleAfter },
    { header: 'CREDENTIALS', wideOnly: true, cell: (r) => (r.spec.etcd.usernameSecretRef ? 'set' : '-') },
    age(),
  ],
};

/** Header and rows for `items` (all of `kind`) in the given view. */
export function tableFor<K extends Kind>(
  kind: K,
  items: readonly ResourceOf<K>[],
  view: TableView,
  now: Date,
): { header: string[]; rows: string[][] } {
  const cols = (COLUMNS[kind] as Column<K>[]).filter((c) => view === 'wide' || !c.wideOnly);
  return {
    header: cols.map((c) => c.header),
    rows: items.map((r) => cols.map((c) => c.cell(r, now))),
  };
}

