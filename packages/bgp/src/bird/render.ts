/**
 * Renders the whole desired state (the same GlobalConfig, PeerConfig[] and
 * Announcement[] the GoBGP backend gets) into one bird.conf for BIRD 2.0.
 * Pure: the same input gives the same text, byte for byte (peers and
 * announcements are sorted), so the applier can skip a reload when nothing
 * changed and golden files show reviewers the exact output.
 *
 * What the file holds:
 * - our announcements as static blackhole routes, one protocol per family;
 * - export filters that let out only those static routes, setting the
 *   announced next hop (unless it is the unspecified address, which asks for
 *   each session's local address) and communities; learned routes are never
 *   re-advertised, except iBGP-learned ones on a node that is a route
 *   reflector. A next hop set in an export filter is kept even towards eBGP
 *   peers, so single-hop eBGP sessions get a filter of their own that leaves
 *   it to BIRD: the session's local address, which the router can reach on
 *   the shared link (a dual-homed node's address is on its loopback, where a
 *   top-of-rack router could not resolve it);
 * - one BGP protocol per peer, carrying both unicast families (MP-BGP) as
 *   the GoBGP backend does;
 * - a kernel protocol per family that writes BGP-learned best routes (ECMP
 *   merged) into the main table as `proto bird`, never touching others'
 *   routes (`learn off`); our own prefixes win over learned copies by
 *   preference (static 200 > BGP 100) and so never reach the kernel;
 * - `protocol bfd` when a peer asks for BFD.
 */
import { compareCidr, formatCidr, formatIP, type Cidr } from '@terrace/api';
import type { Announcement, GlobalConfig, PeerConfig } from '../speaker.js';
import { BIRD_KERNEL_METRIC, BIRD_KERNEL_TABLE, BFD_DEFAULT_INTERVAL_MS, BFD_DEFAULT_MULTIPLIER } from './constants.js';
import { exportRejectLines, importFilterLines, passLines } from './policy.js';
import { addrValue, asnValue, communityValue, descriptionValue, intValue, invalid, passwordValue, routerIdValue } from './values.js';

export interface BirdDesired {
  global: GlobalConfig;
  peers: readonly PeerConfig[];
  announcements: readonly Announcement[];
}

export interface RenderedBird {
  text: string;
  /** BGP protocol name → the peer it was rendered from. */
  protocols: ReadonlyMap<string, PeerConfig>;
}

const FAMILIES = [4, 6] as const;
const OWN = (f: 4 | 6): string => `terrace_own${f}`;

/** The protocol name of a peer: `ibgp_`/`ebgp_` and the address with `.`/`:` as `_`. */
export function peerProtocolName(peer: PeerConfig, localAsn: number): string {
  const kind = peer.asn === localAsn ? 'ibgp' : 'ebgp';
  return `${kind}_${formatIP(peer.address).replace(/[.:]/g, '_')}`;
}

function indent(lines: readonly string[], by = '  '): string[] {
  return lines.map((l) => (l === '' ? l : by + l));
}

function sortedPeers(peers: readonly PeerConfig[]): PeerConfig[] {
  return [...peers].sort((a, b) => (a.address.family - b.address.family) || (a.address.value < b.address.value ? -1 : a.address.value > b.address.value ? 1 : 0));
}

function multihopOf(p: PeerConfig, where: string): number | undefined {
  if (p.ttlSecurity !== undefined && p.ebgpMultihop !== undefined) {
    throw invalid(where, 'ttlSecurity', 'and ebgpMultihop are mutually exclusive');
  }
  if (p.ttlSecurity !== undefined) {
    const hops = Number(intValue(p.ttlSecurity, 1, 255, where, 'ttlSecurity'));
    return hops > 1 ? hops : undefined;
  }
  if (p.ebgpMultihop !== undefined) return Number(intValue(p.ebgpMultihop, 1, 255, where, 'ebgpMultihop'));
  return undefined;
}

/** A peer's own export lines: its policy's rejections of our routes, and the learned routes it is passed. */
function ownExportLines(p: PeerConfig, f: 4 | 6): { rejects: string[]; pass: string[] } {
  const where = `bgp peer ${formatIP(p.address)}`;
  return { rejects: p.policy ? exportRejectLines(p.policy.export, f, where) : [], pass: passLines(p.policy?.pass ?? [], f, where) };
}

/** The export filter a peer's channel names: the shared one, or its own when its policy rejects or passes something. */
function exportFilterName(p: PeerConfig, g: GlobalConfig, name: string, reflector: boolean, f: 4 | 6): string {
  const own = ownExportLines(p, f);
  if (own.rejects.length > 0 || own.pass.length > 0) return `${name}_export${f}`;
  if (reflector && p.asn === g.asn) return `terrace_reflect${f}`;
  return birdSetsNextHop(p, g) ? `terrace_export_ebgp${f}` : `terrace_export${f}`;
}

/** A peer's own export filter: the learned routes it is passed, then the shared statements after its policy's rejections. */
function peerExportFilter(p: PeerConfig, g: GlobalConfig, name: string, reflector: boolean, f: 4 | 6, body: readonly string[]): string[] {
  const { rejects, pass } = ownExportLines(p, f);
  if (rejects.length === 0 && pass.length === 0) return [];
  // Reflected routes are not ours: the export rules apply to what we originate.
  const reflect = reflector && p.asn === g.asn ? [`if source = RTS_BGP && proto ~ "ibgp_*" then accept;`] : [];
  const own = rejects.length > 0 ? [`if source = RTS_STATIC && proto = "${OWN(f)}" then {`, ...indent(rejects), '}'] : [];
  return [`filter ${name}_export${f} {`, ...indent([...pass, ...reflect, ...own, ...body]), '}', ''];
}

/** An eBGP session to a directly connected router: the next hop is the session's own address. */
function singleHopEbgp(p: PeerConfig, g: GlobalConfig): boolean {
  return p.asn !== g.asn && multihopOf(p, `bgp peer ${formatIP(p.address)}`) === undefined;
}

/** Whether BIRD picks our routes' next hop on this session (single-hop eBGP), unless nextHopMode keeps the node's. */
function birdSetsNextHop(p: PeerConfig, g: GlobalConfig): boolean {
  return singleHopEbgp(p, g) && p.nextHopMode !== 'keep';
}

function renderPeer(p: PeerConfig, g: GlobalConfig, name: string, reflector: boolean): string[] {
  const addr = formatIP(p.address);
  const where = `bgp peer ${addr}`;
  const out: string[] = [];
  const localAsn = asnValue(g.asn, 'bgp global', 'asn');
  const ibgp = p.asn === g.asn;
  if (p.description !== undefined) out.push(`description ${descriptionValue(p.description, where)};`);
  const local = p.localAddress ? ` ${addrValue(p.localAddress, where, 'localAddress', p.address.family)}` : '';
  const lport = g.listenPort !== undefined && g.listenPort !== 179 ? ` port ${g.listenPort}` : '';
  out.push(`local${local}${lport} as ${localAsn};`);
  const port = p.port !== undefined && p.port !== 179 ? ` port ${intValue(p.port, 1, 65535, where, 'port')}` : '';
  out.push(`neighbor ${addrValue(p.address, where, 'address')}${port} as ${asnValue(p.asn, where, 'asn')};`);
  const hops = multihopOf(p, where);
  // Single-hop sessions resolve next hops on the shared link (gateway direct);
  // multihop ones through the table, which protocol direct fills.
  out.push(hops === undefined ? 'direct;' : `multihop ${hops};`);
  if (p.ttlSecurity !== undefined) out.push('ttl security on;');
  if (p.passive) out.push('passive on;');
  if (p.password !== undefined) out.push(`password ${passwordValue(p.password, where)};`);
  const keepalive = p.keepaliveTime ?? 30;
  const hold = p.holdTime ?? keepalive * 3;
  out.push(`keepalive time ${intValue(keepalive, 1, 65535, where, 'keepaliveTime')};`);
  out.push(`hold time ${intValue(hold, 3, 65535, where, 'holdTime')};`);
  // connectRetry is the time between attempts; the first attempt after a
  // (re)start waits as long (BIRD's own default is 5 s).
  const retry = intValue(p.connectRetry ?? 5, 1, 65535, where, 'connectRetry');
  out.push(`connect delay time ${retry};`);
  out.push(`connect retry time ${retry};`);
  // After an error (a BFD session reported down, hold timer expired, a
  // notification) BIRD waits `error wait time` before it tries again: 60 s
  // by default, which turned one BFD hiccup while a session was still coming
  // up into a minute without the session. Retry as a connect retry would,
  // doubling up to 300 s while errors repeat (BIRD's own maximum).
  out.push(`error wait time ${retry}, 300;`);
  if (p.gracefulRestart) {
    out.push('graceful restart on;');
    out.push(`graceful restart time ${intValue(p.gracefulRestart.restartTime, 1, 4095, where, 'gracefulRestart.restartTime')};`);
  } else {
    out.push('graceful restart off;');
  }
  if (p.bfd) {
    // BIRD refuses the whole file otherwise ("Multihop BGP with BFD requires
    // specified local address"); say which peer and why instead.
    if (multihopOf(p, where) !== undefined && p.localAddress === undefined) {
      throw invalid(where, 'bfd', 'on a multihop session needs a local address (sourceAddress: UseNodeIP): BIRD sends BFD from it');
    }
    const ms = intValue(p.bfd.intervalMs ?? BFD_DEFAULT_INTERVAL_MS, 1, 60000, where, 'bfd.intervalMs');
    const mult = intValue(p.bfd.multiplier ?? BFD_DEFAULT_MULTIPLIER, 1, 255, where, 'bfd.multiplier');
    out.push(`bfd { min rx interval ${ms} ms; min tx interval ${ms} ms; multiplier ${mult}; };`);
  }
  if (p.routeReflectorClient) {
    if (!ibgp) throw invalid(where, 'routeReflectorClient', `needs an iBGP peer (peer AS ${p.asn}, ours ${g.asn})`);
    out.push('rr client;');
    out.push(`rr cluster id ${p.routeReflectorClusterId === undefined ? routerIdValue(g.routerId) : routerIdValue(p.routeReflectorClusterId, where, 'routeReflectorClusterId')};`);
  } else if (p.routeReflectorClusterId !== undefined) {
    throw invalid(where, 'routeReflectorClusterId', 'is set but routeReflectorClient is not');
  }
  const nextHop = nextHopStatement(p, where, ibgp);
  for (const f of FAMILIES) {
    const filter = exportFilterName(p, g, name, reflector, f);
    if (!p.policy) {
      out.push(`ipv${f} { import all; export filter ${filter};${nextHop} };`);
      continue;
    }
    const imports = importFilterLines(p.policy.import, f, where);
    // The import table keeps what the peer sent before the filter: a changed
    // filter is then applied to it at once, without the peer's help (a route
    // refresh cannot be asked of a session whose other family is down).
    out.push(`ipv${f} {`, '  import table on;', '  import filter {', ...indent(imports, '    '), '  };', `  export filter ${filter};`, ...(nextHop ? [`  ${nextHop.trim()}`] : []), '};');
  }
  return [`protocol bgp ${name} {`, ...indent(out), '}'];
}

/**
 * nextHopMode as a channel option. BIRD's own rule (auto) keeps the next hop
 * towards iBGP peers, reflected routes included, and uses the session address
 * towards eBGP peers unless our export filter set one (our own routes).
 */
function nextHopStatement(p: PeerConfig, where: string, ibgp: boolean): string {
  switch (p.nextHopMode ?? 'auto') {
    case 'auto':
      // Routes passed on from an eBGP peer (a remote cluster's blocks) go to
      // iBGP peers with our address: they cannot reach the remote gateway.
      // Only passed routes come from eBGP peers, so nothing else changes.
      return ibgp && (p.policy?.pass ?? []).length > 0 ? ' next hop self ebgp;' : '';
    case 'self':
      return ' next hop self;';
    case 'keep':
      return ' next hop keep;';
    default:
      throw invalid(where, 'nextHopMode', `${JSON.stringify(p.nextHopMode)} is not one of auto, self, keep`);
  }
}

/**
 * The statements that set communities (and, unless `ownNextHop` is false,
 * the next hop) on our own routes of one family.
 */
function ownRouteStatements(anns: readonly Announcement[], f: 4 | 6, ownNextHop = true): string[] {
  const out: string[] = [`if !(source = RTS_STATIC && proto = "${OWN(f)}") then reject;`];
  const byHop = new Map<string, string[]>();
  for (const a of anns) {
    const nh = addrValue(a.nextHop, `announcement ${formatCidr(a.prefix)}`, 'nextHop', f);
    // The unspecified address asks for each session's local address: BIRD's own choice.
    if (a.nextHop.value === 0n) continue;
    byHop.set(nh, [...(byHop.get(nh) ?? []), formatCidr(a.prefix)]);
  }
  const hops = ownNextHop ? [...byHop].sort(([x], [y]) => (x < y ? -1 : 1)) : [];
  for (const [nh, nets] of hops) out.push(`if net ~ [ ${nets.join(', ')} ] then bgp_next_hop = ${nh};`);
  for (const a of anns) {
    if (!a.communities || a.communities.length === 0) continue;
    const where = `announcement ${formatCidr(a.prefix)}`;
    const adds = [...new Set(a.communities)].map((c) => {
      const v = communityValue(c, where);
      return `${v.large ? 'bgp_large_community' : 'bgp_community'}.add(${v.text});`;
    });
    out.push(`if net ~ [ ${formatCidr(a.prefix)} ] then { ${adds.join(' ')} }`);
  }
  out.push('accept;');
  return out;
}

function familyAnnouncements(anns: readonly Announcement[], f: 4 | 6): Announcement[] {
  return anns.filter((a) => a.prefix.family === f).sort((a, b) => compareCidr(a.prefix as Cidr, b.prefix as Cidr));
}

export function renderBirdConfig(d: BirdDesired): RenderedBird {
  const g = d.global;
  const routerId = routerIdValue(g.routerId);
  asnValue(g.asn, 'bgp global', 'asn');
  if (g.listenPort !== undefined && g.listenPort !== 179) {
    // BIRD always listens for its BGP protocols; it cannot be told not to.
    if (g.listenPort === -1) throw invalid('bgp global', 'listenPort', '-1 (no listening) is not supported by the BIRD backend');
    intValue(g.listenPort, 1, 65535, 'bgp global', 'listenPort');
  }
  if (g.listenAddresses && g.listenAddresses.length > 0) {
    throw invalid('bgp global', 'listenAddresses', 'is not supported by the BIRD backend (set localAddress per peer)');
  }
  const seenPrefix = new Set<string>();
  for (const a of d.announcements) {
    const k = formatCidr(a.prefix);
    if (seenPrefix.has(k)) throw invalid(`announcement ${k}`, 'prefix', 'is listed twice in the desired set');
    seenPrefix.add(k);
    if (a.nextHop.family !== a.prefix.family) throw invalid(`announcement ${k}`, 'nextHop', `${formatIP(a.nextHop)} is not of the prefix's family`);
  }
  const peers = sortedPeers(d.peers);
  const protocols = new Map<string, PeerConfig>();
  for (const p of peers) {
    const name = peerProtocolName(p, g.asn);
    if (protocols.has(name)) throw invalid(`bgp peer ${formatIP(p.address)}`, 'address', 'is listed twice in the desired set');
    protocols.set(name, p);
  }
  const reflector = peers.some((p) => p.routeReflectorClient);
  const multihop = peers.some((p) => multihopOf(p, `bgp peer ${formatIP(p.address)}`) !== undefined);
  const ebgpDirect = peers.some((p) => birdSetsNextHop(p, g));
  const merge = g.multipath ?? true;

  const out: string[] = [
    '# Rendered by Terrace from the desired BGP state; changes here are overwritten.',
    '',
    `router id ${routerId};`,
    'log stderr { info, remote, warning, error, auth, fatal, bug };',
    'timeformat protocol iso long;',
    '',
    'protocol device terrace_device {',
    '  scan time 10;',
    '}',
    '',
  ];
  if (multihop) {
    out.push('# Connected networks, to resolve the next hops of multihop sessions.');
    out.push('protocol direct terrace_direct {', '  ipv4;', '  ipv6;', '}', '');
  }
  for (const f of FAMILIES) {
    const anns = familyAnnouncements(d.announcements, f);
    out.push(`protocol static ${OWN(f)} {`, `  ipv${f};`);
    for (const a of anns) out.push(`  route ${formatCidr(a.prefix)} blackhole;`);
    out.push('}', '');
  }
  for (const f of FAMILIES) {
    const body = ownRouteStatements(familyAnnouncements(d.announcements, f), f);
    out.push(`# Only what we originate goes out, never a learned route.`);
    out.push(`filter terrace_export${f} {`, ...indent(body), '}', '');
    const ebgpBody = ownRouteStatements(familyAnnouncements(d.announcements, f), f, false);
    if (ebgpDirect) {
      out.push('# Towards directly connected eBGP routers BIRD sets the next hop: the session\'s local address.');
      out.push(`filter terrace_export_ebgp${f} {`, ...indent(ebgpBody), '}', '');
    }
    if (reflector) {
      out.push('# As a route reflector, also what iBGP peers sent us (BIRD applies the client rules).');
      out.push(`filter terrace_reflect${f} {`, `  if source = RTS_BGP && proto ~ "ibgp_*" then accept;`, ...indent(body), '}', '');
    }
    for (const [name, p] of protocols) {
      const own = peerExportFilter(p, g, name, reflector, f, birdSetsNextHop(p, g) ? ebgpBody : body);
      if (own.length > 0) out.push(`# ${name}: its BGPFilters' export rules first.`, ...own);
    }
  }
  for (const f of FAMILIES) {
    out.push(
      `# BGP-learned best routes into the main table as proto bird; others' routes are never touched.`,
      `protocol kernel terrace_kernel${f} {`,
      `  ipv${f} { import none; export where source = RTS_BGP; };`,
      '  learn off;',
      `  merge paths ${merge ? 'on' : 'off'};`,
      '  graceful restart on;',
      `  kernel table ${BIRD_KERNEL_TABLE};`,
      `  metric ${BIRD_KERNEL_METRIC};`,
      '}',
      '',
    );
  }
  if (peers.some((p) => p.bfd)) {
    out.push('# Sessions are requested by the BGP protocols that say bfd; intervals are set there.');
    out.push('protocol bfd terrace_bfd {', '}', '');
  }
  for (const [name, p] of protocols) out.push(...renderPeer(p, g, name, reflector), '');
  return { text: `${out.join('\n').trimEnd()}\n`, protocols };
}
