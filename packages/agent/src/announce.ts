/**
 * What this node announces over BGP and which blackholes it keeps, computed
 * from IPAM state. Pure.
 *
 * - Every block affine to this node is announced as its prefix with the
 *   node's own address as next hop, and gets a kernel blackhole route so that
 *   traffic to an unallocated address in it is dropped here instead of
 *   bouncing back to the default route (the pods' /32 routes are more
 *   specific and win).
 * - An address this node's pods hold in a block affine to another node
 *   (a borrowed address) is announced as a /32 (/128) so that it beats the
 *   owner's block route everywhere.
 * - Blocks and addresses of a pool with disableBGPExport are not announced
 *   (the blackhole is still installed: it is about local forwarding).
 * - The service cidrs of BGPConfiguration are announced by every node
 *   (advertise.ts), without a blackhole: a host process connecting to a
 *   service address is routed before kube-proxy's OUTPUT DNAT rewrites the
 *   destination, so a blackhole there would fail its connect().
 * - Every announcement carries the communities of the prefixAdvertisements
 *   that contain it.
 */
import { planAdvertisements } from './advertise.js';
import {
  type BGPConfigurationSpec,
  type Cidr,
  type IPFamily,
  type IPPool,
  type TerraceNode,
  cidrContainsCidr,
  compareCidr,
  formatCidr,
  hostCidr,
  tryParseCidr,
  tryParseIP,
} from '@terrace/api';
import { hostAddressFamilies, nodeAddresses } from './peers.js';

/** The parts of an IPAM block this computation needs (the agent adapts the IPAM record). */
export interface BlockView {
  cidr: string;
  /** The node the block is affine to, if any. */
  affinity: string | undefined;
  /** Allocated addresses with the node their holder runs on (when recorded). */
  allocations: readonly { address: string; node: string | undefined }[];
}

/** The unspecified address of each family: "each session's own local address" as a next hop. */
export const SESSION_NEXT_HOP: Record<IPFamily, string> = { 4: '0.0.0.0', 6: '::' };

/**
 * The next hop this node announces with, per family. A node whose BGP
 * address is on a shared subnet (`198.18.0.11/24`) announces that address,
 * which every peer on the subnet reaches. A host address (`/32`, `/128`: the
 * stable address on the loopback of a dual-homed node) is on no link a
 * router shares with the node, so such a node announces the unspecified
 * address: both backends then put each session's own local address in its
 * place, i.e. the uplink's address towards each top-of-rack router.
 */
export function announcedNextHops(node: TerraceNode): Partial<Record<IPFamily, string>> {
  const host = hostAddressFamilies(node);
  const out: Partial<Record<IPFamily, string>> = {};
  for (const [fam, addr] of Object.entries(nodeAddresses(node)) as [string, string][]) {
    const f = Number(fam) as IPFamily;
    out[f] = host.has(f) ? SESSION_NEXT_HOP[f] : addr;
  }
  return out;
}

export interface AnnounceInputs {
  nodeName: string;
  /** This node's next hop by family (announcedNextHops); a family without one is not announced. */
  addresses: Partial<Record<IPFamily, string>>;
  blocks: Iterable<BlockView>;
  pools: readonly IPPool[];
  /** The `default` BGPConfiguration's spec (communities, prefixAdvertisements, service cidrs). */
  config?: BGPConfigurationSpec | undefined;
}

export interface Announcement {
  prefix: string;
  nextHop: string;
  kind: 'block' | 'borrowed' | 'service';
  /** Community values (`aa:nn`, large `aa:nn:mm`), sorted. */
  communities: string[];
}

export interface AnnounceResult {
  /** Sorted by prefix. */
  announcements: Announcement[];
  /** Prefixes of the blocks affine to this node, sorted. */
  blackholes: string[];
  problems: string[];
}

export function computeAnnouncements(inp: AnnounceInputs): AnnounceResult {
  const plan = planAdvertisements(inp.config, inp.pools);
  const problems: string[] = [...plan.problems];
  const pools = inp.pools.map((p) => ({ pool: p, cidr: tryParseCidr(p.spec.cidr) })).filter((p) => p.cidr !== undefined) as {
    pool: IPPool;
    cidr: Cidr;
  }[];
  const exportDisabled = (c: Cidr): boolean => pools.some((p) => p.pool.spec.disableBGPExport && cidrContainsCidr(p.cidr, c));
  const announced = new Map<string, { cidr: Cidr; a: Announcement }>();
  const blackholes: Cidr[] = [];
  const warnedFamilies = new Set<IPFamily>();
  const add = (c: Cidr, kind: Announcement['kind']): void => {
    if (kind !== 'service' && exportDisabled(c)) return;
    const nextHop = inp.addresses[c.family];
    if (!nextHop) {
      if (!warnedFamilies.has(c.family)) {
        warnedFamilies.add(c.family);
        problems.push(`node ${inp.nodeName} has no IPv${c.family} BGP address; its IPv${c.family} prefixes are not announced`);
      }
      return;
    }
    const prefix = formatCidr(c);
    if (announced.has(prefix)) return; // a block that is also a service cidr is announced once, as the block
    announced.set(prefix, { cidr: c, a: { prefix, nextHop, kind, communities: plan.communitiesFor(c) } });
  };

  for (const b of inp.blocks) {
    const cidr = tryParseCidr(b.cidr);
    if (!cidr) {
      problems.push(`ipam block ${JSON.stringify(b.cidr)} is not a CIDR; ignored`);
      continue;
    }
    if (b.affinity === inp.nodeName) {
      blackholes.push(cidr);
      add(cidr, 'block');
      continue;
    }
    for (const a of b.allocations) {
      if (a.node !== inp.nodeName) continue;
      const ip = tryParseIP(a.address);
      if (ip) add(hostCidr(ip), 'borrowed');
    }
  }
  for (const s of plan.services) add(s.cidr, 'service');

  const announcements = [...announced.values()].sort((x, y) => compareCidr(x.cidr, y.cidr)).map((x) => x.a);
  return { announcements, blackholes: blackholes.sort(compareCidr).map(formatCidr), problems };
}
