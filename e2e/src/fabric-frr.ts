/**
 * bgpd.conf for the fabric's FRR routers (ToRs and spine). Each session
 * carries one family: IPv4 sessions only IPv4 unicast, IPv6 sessions only
 * IPv6 unicast (`no bgp default ipv4-unicast`, then an explicit activate),
 * so every announced next hop is of the route's family and on the link the
 * session runs over. Pure: the fabric test and the demo print what it gives.
 */
import { bfdProfileName, type FrrBfd } from '@terrace/testkit';

export interface FabricNeighbor {
  address: string;
  asn: number;
  description: string;
}

export interface FabricRouter {
  hostname: string;
  asn: number;
  routerId: string;
  neighbors: readonly FabricNeighbor[];
  /**
   * A ToR's node subnets: every node there may peer, whatever its AS
   * (`bgp listen range` into a peer group per family, `remote-as
   * external`), as docs/bgp.md shows for production ToRs.
   */
  nodeRanges?: { v4: string; v6: string };
  /**
   * BFD towards the nodes with these timers (bfdd must run: renderFabricBfdd).
   * Every node answers (BIRD itself, a GoBGP node through its agent); one
   * that did not would keep its session: FRR takes a session down only when
   * its BFD session goes from up to down.
   */
  nodeBfd?: FrrBfd;
  /**
   * Offer the nodes a default route of each family (`default-originate`), as
   * ToRs that are the rack's way out do. Nodes take it only through a
   * BGPFilter: their default import policy accepts pool prefixes alone.
   */
  defaultToNodes?: boolean;
}

const GROUPS = { 4: 'NODES', 6: 'NODES6' } as const;

/** ECMP width on every fabric router: a ToR pair, and the spine towards both ToRs of a rack. */
export const FABRIC_MAX_PATHS = 8;

export function renderFabricBgpd(r: FabricRouter): string {
  const lines = ['frr defaults traditional', `hostname ${r.hostname}`, 'log stdout', '!', `router bgp ${r.asn}`];
  lines.push(` bgp router-id ${r.routerId}`);
  // Lab routers accept and send everything; production ToRs filter (docs/bgp.md).
  lines.push(' no bgp ebgp-requires-policy', ' no bgp network import-check', ' no bgp default ipv4-unicast');
  if (r.nodeRanges) {
    for (const fam of [4, 6] as const) {
      const g = GROUPS[fam];
      lines.push(` neighbor ${g} peer-group`, ` neighbor ${g} remote-as external`, ` neighbor ${g} timers 1 3`);
      lines.push(` bgp listen range ${fam === 4 ? r.nodeRanges.v4 : r.nodeRanges.v6} peer-group ${g}`);
      if (r.nodeBfd) lines.push(` neighbor ${g} bfd profile ${bfdProfileName(r.nodeBfd)}`);
    }
  }
  for (const n of r.neighbors) {
    lines.push(` neighbor ${n.address} remote-as ${n.asn}`);
    lines.push(` neighbor ${n.address} description ${n.description}`);
    // 1 s keepalives: a dead peer is noticed within 3 s (the nodes' BGPPeers say the same).
    lines.push(` neighbor ${n.address} timers 1 3`, ` neighbor ${n.address} timers connect 1`);
  }
  for (const fam of [4, 6] as const) {
    lines.push(` address-family ipv${fam} unicast`, `  maximum-paths ${FABRIC_MAX_PATHS}`);
    if (r.nodeRanges) lines.push(`  neighbor ${GROUPS[fam]} activate`);
    if (r.nodeRanges && r.defaultToNodes) lines.push(`  neighbor ${GROUPS[fam]} default-originate`);
    for (const n of r.neighbors.filter((x) => x.address.includes(':') === (fam === 6))) lines.push(`  neighbor ${n.address} activate`);
    lines.push(' exit-address-family');
  }
  lines.push('!');
  return `${lines.join('\n')}\n`;
}

/** bfdd.conf with the one profile a ToR's node sessions use. */
export function renderFabricBfdd(b: FrrBfd): string {
  return ['bfd', ` profile ${bfdProfileName(b)}`, `  receive-interval ${b.intervalMs}`, `  transmit-interval ${b.intervalMs}`, `  detect-multiplier ${b.multiplier}`, ' !', '!', ''].join('\n');
}
