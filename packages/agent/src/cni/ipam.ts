/**
 * What the CNI server needs from IPAM, and how the allocator provides it.
 * Declared narrowly so the server's contract is visible in one place.
 */
import { parseIP } from '@terrace/api';
import { podHostRoutes, type UnicastRoute } from '@terrace/dataplane';
import { endpointsOf, mapEtcdError } from '@terrace/datastore';
import { Allocator, allocationsOf, ipOf, readSnapshot, type AllocateRequest, type AllocateResult, type PodRef, type ReleasedIP } from '@terrace/ipam';

/** One address held by a pod interface on a node. */
export interface NodeAllocation {
  ip: string;
  handle: string;
  containerID: string | undefined;
  iface: string | undefined;
}

export interface CniIpam {
  /** Same handle, same addresses (a retried ADD). */
  allocate(req: AllocateRequest): Promise<AllocateResult>;
  /** Idempotent: releasing a free handle returns nothing. */
  release(req: { handle: string }): Promise<ReleasedIP[]>;
  /** DEL and GC: a pod interface's addresses, also those an older agent stored under the old handle form. Idempotent. */
  releasePod(pod: PodRef): Promise<ReleasedIP[]>;
  /** Who holds an address, or undefined when it is free. */
  lookup(ip: string): Promise<{ handle: string; containerID?: string | undefined; iface?: string | undefined } | undefined>;
  /** Every address held by pods on `node` (GC). */
  nodeAllocations(node: string): Promise<NodeAllocation[]>;
}

/**
 * The allocator as the CNI server's IPAM. Whatever etcd's client throws
 * comes out as a TerraceError naming etcd and its endpoints (Unavailable
 * when it cannot be reached), never as a raw gRPC text.
 */
export function allocatorIpam(a: Allocator): CniIpam {
  const named = <T>(p: Promise<T>): Promise<T> =>
    p.catch((e: unknown) => {
      throw mapEtcdError(e, endpointsOf(a.etcd));
    });
  return {
    allocate: (req) => named(a.allocate(req)),
    release: (req) => named(a.release(req)),
    releasePod: (pod) => named(a.releasePod(pod)),
    lookup: (ip) => named(a.lookup(ip)),
    nodeAllocations: (node) => named(nodeAllocations(a, node)),
  };
}

async function nodeAllocations(a: Allocator, node: string): Promise<NodeAllocation[]> {
  // GC is rare (the runtime calls it now and then), so one consistent read
  // of the blocks is affordable.
  const snap = await readSnapshot(a.etcd, a.keys);
  const out: NodeAllocation[] = [];
  for (const b of snap.blocks) {
    for (const { ordinal, alloc } of allocationsOf(b.rec)) {
      if (alloc.node !== node) continue;
      out.push({ ip: ipOf(b.rec, ordinal), handle: alloc.handle, containerID: alloc.containerID, iface: alloc.iface });
    }
  }
  return out;
}

/**
 * The host routes of every pod interface on `node`, from IPAM: what the
 * agent seeds RouteSync's desired set with at start, before any CNI call,
 * so that a restart keeps existing pods' routes.
 */
export async function localPodRoutes(ipam: CniIpam, node: string): Promise<UnicastRoute[]> {
  const out: UnicastRoute[] = [];
  for (const a of await ipam.nodeAllocations(node)) {
    if (a.containerID === undefined || a.iface === undefined) continue;
    out.push(...podHostRoutes(a.containerID, a.iface, [parseIP(a.ip)]));
  }
  return out;
}
