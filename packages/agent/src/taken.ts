/**
 * Addresses of this node's running pods that IPAM no longer gives to this
 * node. It happens only while the node's liveness key was gone: the agent
 * was cut off from etcd (or down) past the controller's grace period and the
 * controller freed its addresses (when it could not tell the node still
 * announced them, controller hold.ts), or an operator released them. Another
 * node may then have handed them out again: two pods, one address.
 *
 * The agent does not fight for them. IPAM is the record: the node the
 * allocation names now announces the address, and this node's reconciler
 * has already stopped announcing what is no longer its own. What the agent
 * does is say so, loudly and for as long as it lasts: an error log line per
 * address (pod's device, address, new holder) and `addressConflicts` in its
 * node status, so that the operator deletes and recreates the pods named.
 *
 * It checks when that can have happened: at start and whenever its liveness
 * lease was lost and granted again, then on every status round while any
 * conflict remains (so the record clears once the pods are gone).
 */
import { formatPrefix, isHostPrefix } from '@terrace/api';
import { ROUTE_PROTOCOL, type AnyRoute, type UnicastRoute } from '@terrace/dataplane';
import type { Keys } from '@terrace/datastore';
import { allocationsOf, decodeBlock, ipOf } from '@terrace/ipam';
import type { Etcd3 } from 'etcd3';

/** One pod address of this node that IPAM gives to someone else, or to no one. */
export interface AddressConflict {
  address: string;
  /** The pod's host-side device on this node. */
  dev: string;
  /** The node IPAM now gives the address to; absent when it is free. */
  holder?: string;
  /** The holder's pod (`namespace/name`), when recorded. */
  holderPod?: string;
}

/** Who IPAM gives each allocated address to. */
export type Holders = ReadonlyMap<string, { node: string; pod?: string }>;

/** This node's pod addresses: its own host routes (our protocol, a device, no gateway). */
export function localPodAddresses(kernel: readonly AnyRoute[]): { address: string; dev: string }[] {
  const out: { address: string; dev: string }[] = [];
  for (const { route, protocol } of kernel) {
    const hop = route.hops[0];
    if (protocol !== ROUTE_PROTOCOL || route.kind !== 'unicast' || !isHostPrefix(route.dst) || route.hops.length !== 1 || hop?.via !== undefined || hop?.dev === undefined) continue;
    out.push({ address: formatPrefix(route.dst).replace(/\/\d+$/, ''), dev: hop.dev });
  }
  return out;
}

/**
 * The pods this agent wired, by address, as the CNI server adds and removes
 * their host routes. The kernel alone is not enough: while the node is cut
 * off, a path another node announces for a retaken address replaces the
 * pod's host route (one route per destination), so the pod is no longer
 * visible there by the time etcd answers again.
 */
export class LocalPods {
  private readonly byAddress = new Map<string, string>();

  add(routes: readonly UnicastRoute[]): void {
    for (const r of routes) {
      const dev = r.nextHops[0]?.dev;
      if (dev !== undefined && isHostPrefix(r.dst)) this.byAddress.set(formatPrefix(r.dst).replace(/\/\d+$/, ''), dev);
    }
  }

  remove(routes: readonly UnicastRoute[]): void {
    for (const r of routes) this.byAddress.delete(formatPrefix(r.dst).replace(/\/\d+$/, ''));
  }

  /** These pods and the ones in `also` (the kernel's), once each. */
  with(also: readonly { address: string; dev: string }[]): { address: string; dev: string }[] {
    const all = new Map(this.byAddress);
    for (const p of also) if (!all.has(p.address)) all.set(p.address, p.dev);
    return [...all].map(([address, dev]) => ({ address, dev }));
  }
}

/** The pods of ours whose address IPAM gives to another node or to nobody. Pure. */
export function findConflicts(node: string, pods: readonly { address: string; dev: string }[], holders: Holders): AddressConflict[] {
  const out: AddressConflict[] = [];
  for (const p of pods) {
    const h = holders.get(p.address);
    if (h?.node === node) continue;
    out.push({ ...p, ...(h ? { holder: h.node } : {}), ...(h?.pod ? { holderPod: h.pod } : {}) });
  }
  return out.sort((a, b) => a.address.localeCompare(b.address));
}

/** Every allocated address and its holder, read from etcd now (blocks that do not decode are skipped). */
export async function readHolders(etcd: Etcd3, keys: Keys): Promise<Holders> {
  const holders = new Map<string, { node: string; pod?: string }>();
  for (const [key, text] of Object.entries(await etcd.getAll().prefix(keys.blockPrefix()).strings())) {
    let b;
    try {
      b = decodeBlock(key, text);
    } catch {
      continue;
    }
    for (const { ordinal, alloc } of allocationsOf(b)) {
      const pod = alloc.pod ? `${alloc.namespace ?? ''}/${alloc.pod}` : undefined;
      holders.set(ipOf(b, ordinal), { node: alloc.node, ...(pod ? { pod } : {}) });
    }
  }
  return holders;
}

/** A conflict as one line for the log and for humans. */
export function describeConflict(c: AddressConflict): string {
  const who = c.holder ? `now allocated to node ${c.holder}${c.holderPod ? ` (pod ${c.holderPod})` : ''}` : 'freed in IPAM';
  return `pod address ${c.address} (device ${c.dev}) was taken from this node while it was cut off from etcd: ${who}; recreate that pod`;
}
