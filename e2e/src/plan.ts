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
