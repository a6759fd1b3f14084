/**
 * The two-cluster lab's address plan and names (multicluster.ts builds it).
 * Each cluster has the one-rack lab's shape on a fabric of its own; cluster
 * k (0 = A, 1 = B):
 *
 *   fabric k      198.18.(40+10k).0/24, a bridge: etcd and the controller on
 *                 the bridge itself at .2, the ToR at .1, the router at .254,
 *                 node n at .(10+n)
 *   interconnect  198.18.60.0/24, a bridge in the router's namespace: gateway
 *                 node n of cluster k at .(10+10k+n) (the address remote
 *                 gateways peer with: its terrace.dev/gateway-ipv4 annotation)
 *   pods          A 198.19.0.0/18, B 198.19.64.0/18 (/26 blocks); the
 *                 scenarios' own pools in 198.19.128.0/17
 *   AS            nodes: A 64512, B 64513 (each cluster's default
 *                 BGPConfiguration); ToRs: A 65000, B 65001
 *
 * The router forwards between the fabrics so each controller reaches the
 * other cluster's etcd; pod traffic between the clusters goes over the
 * interconnect, gateway to gateway.
 */
import { GATEWAY_IPV4_ANNOTATION } from '@terrace/api';

export type ClusterKey = 'a' | 'b';
export const CLUSTER_KEYS: readonly ClusterKey[] = ['a', 'b'];

/** The label the lab's gateway nodes carry; both RemoteClusters select it on either side. */
export const GATEWAY_LABEL = 'multicluster-gateway';
export const GATEWAY_SELECTOR = `${GATEWAY_LABEL} == 'true'`;
export { GATEWAY_IPV4_ANNOTATION };

export const INTERCONNECT_NET = '198.18.60.0/24';
export const INTERCONNECT_PREFIX_LEN = 24;
/** The router's own end of each fabric (and its address on the interconnect bridge). */
const ROUTER_HOST = 254;

export interface ClusterPlan {
  key: ClusterKey;
  /** The cluster name: its key prefix /terrace/v1/<name>/. */
  name: string;
  fabricNet: string;
  fabricPrefixLen: number;
  torIp: string;
  etcdIp: string;
  etcdUrl: string;
  routerIp: string;
  nodeAsn: number;
  torAsn: number;
  /** The cluster's pod pool. */
  pool: { name: string; cidr: string; blockSize: number };
  nodeIp(n: number): string;
  /** Gateway node n's interconnect address. */
  interconnectIp(n: number): string;
  nodeName(n: number): string;
}

const MAX_NODES = 9;

function checkNode(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_NODES) throw new Error(`multi-cluster lab node ${n}: must be 1-${MAX_NODES}`);
}

export function clusterPlan(key: ClusterKey): ClusterPlan {
  const k = key === 'a' ? 0 : 1;
  const third = 40 + 10 * k;
  const etcdIp = `198.18.${third}.2`;
  return {
    key,
    name: `cluster-${key}`,
    fabricNet: `198.18.${third}.0/24`,
    fabricPrefixLen: 24,
    torIp: `198.18.${third}.1`,
    etcdIp,
    etcdUrl: `http://${etcdIp}:2379`,
    routerIp: `198.18.${third}.${ROUTER_HOST}`,
    nodeAsn: 64512 + k,
    torAsn: 65000 + k,
    pool: { name: `${key}-pods`, cidr: `198.19.${64 * k}.0/18`, blockSize: 26 },
    nodeIp: (n) => {
      checkNode(n);
      return `198.18.${third}.${10 + n}`;
    },
    interconnectIp: (n) => {
      checkNode(n);
      return `198.18.60.${10 + 10 * k + n}`;
    },
    nodeName: (n) => {
      checkNode(n);
      return `node-${key}${n}`;
    },
  };
}

export function otherCluster(key: ClusterKey): ClusterKey {
  return key === 'a' ? 'b' : 'a';
}

/** The router's address on the interconnect bridge (diagnostics only: gateways talk to each other). */
export const INTERCONNECT_ROUTER_IP = `198.18.60.${ROUTER_HOST}`;

/**
 * Credentials the lab creates in each etcd. `root` is the cluster's own
 * daemons' user (acceptable in a lab; production gives each its own user);
 * the reader is what the OTHER cluster's controller uses: READ on this
 * cluster's prefix only (etcd role with a key-prefix permission).
 */
export function readerUser(readBy: ClusterKey): string {
  return `remote-${clusterPlan(readBy).name}`;
}
/** The role deploy/etcd/remote-reader.sh gives the reader of cluster `of`. */
export function readerRole(of: ClusterKey): string {
  return `terrace-reader-${clusterPlan(of).name}`;
}
/** The secret (in the reading controller's --secrets-dir) holding the reader's username and password. */
export function remoteSecretName(remote: ClusterKey): string {
  return `${clusterPlan(remote).name}-etcd`;
}
