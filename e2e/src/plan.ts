/**
 * The lab's address plan and fixed names, in one place. Everything sits in
 * 198.18.0.0/15 (RFC 2544): the fabric in 198.18.0.0/24, pod pools in
 * 198.19.0.0/16. Ports are the standard ones: every host is its own
 * namespace, so nothing collides with the machine or with another lab.
 */
import { DEFAULT_GOBGP_API_PORT } from '@terrace/bgp';

/** The fabric subnet every host is wired into. */
export const FABRIC_PREFIX_LEN = 24;
/** The top-of-rack router. */
export const TOR_IP = '198.18.0.1';
/** etcd and the controller, on the fabric bridge itself. */
export const ETCD_IP = '198.18.0.2';
export const ETCD_URL = `http://${ETCD_IP}:2379`;
/** The controller's status page (--status-listen), beside etcd on the fabric. */
export const STATUS_PORT = 9095;
export const STATUS_URL = `http://${ETCD_IP}:${STATUS_PORT}/`;
/** Node n (1-based) is 198.18.0.(10+n). */
export const FIRST_NODE_HOST = 11;
export const MAX_NODES = 40;

export const TOR_ASN = 65000;
export const NODE_ASN = 64512;
/** The lab's cluster name (its etcd is private, so one name serves every run). */
export const CLUSTER = 'lab';
/** The CNI network name: part of every IPAM handle. */
export const NETWORK_NAME = 'lab-net';
/** Each node's gobgpd sidecar: its API where Terrace always puts it, on the namespace's loopback. */
export const GOBGP_API = `127.0.0.1:${DEFAULT_GOBGP_API_PORT}`;

/** The default pod pool: /26 blocks, as in production. */
export const POOL_A = { name: 'lab-a', cidr: '198.19.0.0/17', blockSize: 26 } as const;
/**
 * A second pool, for pods that must land in a block of their own: each pool's
 * first pod on a node claims a new block, which is what a route-propagation
 * measurement needs.
 */
export const POOL_B = { name: 'lab-b', cidr: '198.19.128.0/20', blockSize: 28 } as const;

export function nodeIp(n: number): string {
  if (!Number.isInteger(n) || n < 1 || n > MAX_NODES) throw new Error(`lab node ${n}: must be 1-${MAX_NODES}`);
  return `198.18.0.${FIRST_NODE_HOST + n - 1}`;
}

/** Hold time is three keepalives; 1 s keepalives let the lab see a dead node within 3 s. */
export const KEEPALIVE = '1s';

/**
 * BFD on the mesh and, with LabOptions.torBfd, the ToR sessions: 100 ms × 3,
 * so a dead peer is noticed in about 300 ms.
 */
export const LAB_BFD = { intervalMs: 100, multiplier: 3 } as const;
/**
 * Route reflector lab (LabOptions.reflectors): reflector node n's cluster id
 * (an identifier, written like an address of the lab's range), and the label
 * the BGPPeer that connects every node to the reflectors selects. Each
 * reflector has a cluster of its own: a GoBGP reflector keeps paths that
 * carry its own cluster id and, when one is its best, reflects that prefix
 * to no client (docs/bgp.md, Route reflectors).
 */
export function rrClusterId(n: number): string {
  return `198.18.254.${n}`;
}
export const RR_LABEL = 'route-reflector';
/** The label the agent puts on its Node: which speaker it runs. */
export const BACKEND_LABEL = 'terrace.dev/bgp-backend';

/**
 * The fabric lab (e2e/src/fabric.ts): racks of dual-homed nodes, two ToRs
 * per rack and a spine, dual stack.
 *
 *   management  198.18.0.0/24 (the bridge above): etcd, and each node's
 *               `mgmt` interface at 198.18.0.(10+n); etcd traffic only
 *   node n      its BGP address and router id on its loopback:
 *               198.18.1.n/32 and 2001:db8:1::n/128; AS 64600+n
 *   rack r      plane A 198.18.(10r+1).0/24 and 2001:db8:(10r+1)::/64,
 *               plane B 198.18.(10r+2).0/24 and 2001:db8:(10r+2)::/64:
 *               the plane's ToR at .1 / ::1, node n at .(10+n) / ::(10+n, in hex);
 *               both ToRs of rack r in AS 65100+r
 *   spine       AS 65100; a point-to-point link to each ToR, link k in
 *               198.18.2.(2k)/31 (spine .2k, ToR .2k+1) and
 *               2001:db8:2:k::/64 (spine ::1, ToR ::2)
 *   pods        POOL_A for IPv4 and FABRIC_POOL_V6 for IPv6
 */
export const FABRIC_RACKS = 2;
export const SPINE_ASN = 65100;
export type Plane = 'a' | 'b';
export const PLANES: readonly Plane[] = ['a', 'b'];
/** The IPv6 pod pool: /122 blocks, as in production. */
export const FABRIC_POOL_V6 = { name: 'lab-v6', cidr: '2001:db8:100::/48', blockSize: 122 } as const;

export function rackAsn(rack: number): number {
  return SPINE_ASN + rack;
}

export function fabricNodeAsn(n: number): number {
  return 64600 + n;
}

/** A fabric node's stable addresses (on its loopback): its BGP address and router id. */
export function fabricNodeAddress(n: number): { v4: string; v6: string } {
  nodeIp(n); // range check
  return { v4: `198.18.1.${n}`, v6: `2001:db8:1::${n.toString(16)}` };
}

/** Management address of fabric node n (etcd traffic only). */
export function mgmtIp(n: number): string {
  return nodeIp(n);
}

/** A plane's subnets and where its ToR and nodes sit in them. */
export function planeNet(rack: number, plane: Plane): { v4: string; v6: string; tor: { v4: string; v6: string }; host(n: number): { v4: string; v6: string } } {
  if (!Number.isInteger(rack) || rack < 1 || rack > 9) throw new Error(`fabric rack ${rack}: must be 1-9`);
  const id = rack * 10 + (plane === 'a' ? 1 : 2);
  return {
    v4: `198.18.${id}.0/24`,
    v6: `2001:db8:${id}::/64`,
    tor: { v4: `198.18.${id}.1`, v6: `2001:db8:${id}::1` },
    host: (n) => {
      nodeIp(n);
      return { v4: `198.18.${id}.${FIRST_NODE_HOST - 1 + n}`, v6: `2001:db8:${id}::${(FIRST_NODE_HOST - 1 + n).toString(16)}` };
    },
  };
}

/** The spine's link to the ToR of `rack`/`plane`. */
export function spineLink(rack: number, plane: Plane): { k: number; spine: { v4: string; v6: string }; tor: { v4: string; v6: string } } {
  const k = (rack - 1) * 2 + (plane === 'a' ? 0 : 1) + 1;
  return {
    k,
    spine: { v4: `198.18.2.${2 * k}`, v6: `2001:db8:2:${k}::1` },
    tor: { v4: `198.18.2.${2 * k + 1}`, v6: `2001:db8:2:${k}::2` },
  };
}

/**
 * The lab's metrics listeners (LabOptions.metrics): every agent on its node
 * address, the controller on the fabric bridge, at the daemons' default ports.
 */
export const AGENT_METRICS_PORT = 9091;
export const CONTROLLER_METRICS_PORT = 9094;
