/** Desired states for the BIRD renderer's golden files, one per scenario. */
import { type BGPFilter, type IPPool, parseCidr, parseIP } from '@terrace/api';
import { anyRule, compilePolicy, insideRule, type PeerPolicy, type PolicyRule } from '../src/policy.js';
import type { BirdDesired } from '../src/bird/render.js';

const NODE = { asn: 64512, routerId: '198.18.0.11' };
const FAST = { keepaliveTime: 1, holdTime: 3, connectRetry: 1 };
const own = (prefix: string, nextHop = '198.18.0.11') => ({ prefix: parseCidr(prefix), nextHop: parseIP(nextHop) });

export const scenarios: Record<string, BirdDesired> = {
  // A node in a three-node iBGP full mesh.
  mesh: {
    global: NODE,
    peers: ['198.18.0.12', '198.18.0.13', '198.18.0.14'].map((a) => ({
      address: parseIP(a),
      asn: 64512,
      ...FAST,
      type: 'node-to-node mesh',
      description: `mesh ${a}`,
    })),
    announcements: [own('10.244.1.0/26'), own('10.244.1.64/26')],
  },
  // eBGP to a top-of-rack router with a TCP MD5 password, GTSM and a fixed source address.
  'tor-password': {
    global: NODE,
    peers: [
      {
        address: parseIP('198.18.0.1'),
        asn: 65000,
        password: 'tor-s3cret!',
        ttlSecurity: 1,
        localAddress: parseIP('198.18.0.11'),
        description: 'bgppeer/rack1-tor',
        type: 'global',
      },
    ],
    announcements: [own('10.244.1.0/26')],
  },
  // Graceful restart towards the ToR; a multihop route-server peer, passive.
  'graceful-restart': {
    global: NODE,
    peers: [
      { address: parseIP('198.18.0.1'), asn: 65000, gracefulRestart: { restartTime: 120 }, ...FAST },
      { address: parseIP('198.18.7.1'), asn: 65100, ebgpMultihop: 3, passive: true, gracefulRestart: { restartTime: 300 } },
    ],
    announcements: [own('10.244.1.0/26')],
  },
  // A dual-stack node: v6 peers and announcements, v4 too.
  ipv6: {
    global: NODE,
    peers: [
      { address: parseIP('2001:db8::1'), asn: 65000, ...FAST, localAddress: parseIP('2001:db8::11') },
      { address: parseIP('2001:db8::12'), asn: 64512, ...FAST },
      { address: parseIP('198.18.0.1'), asn: 65000, ...FAST },
    ],
    announcements: [own('fd00:10:244:1::/64', '2001:db8::11'), own('10.244.1.0/26'), own('fd00:10:244:2::/64', '2001:db8::11')],
  },
  // A dual-homed node (address on its loopback, the router id) with an eBGP
  // session per family to each of its rack's two ToRs, no fixed source
  // address; a multihop eBGP peer still gets the node address as next hop.
  'dual-homed': {
    global: { asn: 64601, routerId: '198.18.1.1' },
    peers: [
      { address: parseIP('198.18.11.1'), asn: 65101, ...FAST, description: 'bgppeer/rack-r1-tor-a' },
      { address: parseIP('198.18.12.1'), asn: 65101, ...FAST, description: 'bgppeer/rack-r1-tor-b' },
      { address: parseIP('2001:db8:11::1'), asn: 65101, ...FAST, description: 'bgppeer/rack-r1-tor-a-v6' },
      { address: parseIP('2001:db8:12::1'), asn: 65101, ...FAST, description: 'bgppeer/rack-r1-tor-b-v6' },
      { address: parseIP('198.18.7.1'), asn: 65100, ebgpMultihop: 3, localAddress: parseIP('198.18.1.1') },
    ],
    // The agent announces a loopback-addressed node's prefixes with the
    // unspecified next hop: each session's local address.
    announcements: [own('198.19.0.0/26', '0.0.0.0'), own('198.19.0.64/26', '198.18.1.1'), own('2001:db8:100::/122', '::')],
  },
  // Communities (standard and large) on some announcements only.
  communities: {
    global: NODE,
    peers: [{ address: parseIP('198.18.0.1'), asn: 65000 }],
    announcements: [
      { ...own('10.244.1.0/26'), communities: ['64512:100', '65000:7'] },
      { ...own('10.244.1.64/26'), communities: ['64512:4294967295:1'] },
      own('10.244.1.128/26'),
    ],
  },
  // This node reflects towards two clients and keeps a non-client iBGP peer and an eBGP ToR.
  'route-reflector': {
    global: { ...NODE, multipath: false },
    peers: [
      { address: parseIP('198.18.0.21'), asn: 64512, routeReflectorClient: true, ...FAST },
      { address: parseIP('198.18.0.22'), asn: 64512, routeReflectorClient: true, ...FAST },
      { address: parseIP('198.18.0.12'), asn: 64512, ...FAST },
      { address: parseIP('198.18.0.1'), asn: 65000, ...FAST },
    ],
    announcements: [own('10.244.1.0/26')],
  },
  // A reflector with an explicit cluster id (shared with a second reflector,
  // a plain iBGP peer); next hop self towards one peer, keep towards the ToR.
  'next-hop-mode': {
    global: NODE,
    peers: [
      { address: parseIP('198.18.0.21'), asn: 64512, routeReflectorClient: true, routeReflectorClusterId: '244.0.0.1', ...FAST },
      { address: parseIP('198.18.0.12'), asn: 64512, ...FAST },
      { address: parseIP('198.18.0.31'), asn: 64512, nextHopMode: 'self', ...FAST },
      { address: parseIP('198.18.0.1'), asn: 65000, nextHopMode: 'keep', ...FAST },
      { address: parseIP('198.18.0.2'), asn: 65000, nextHopMode: 'auto', ...FAST },
    ],
    announcements: [own('10.244.1.0/26')],
  },
  // BFD towards the ToR (explicit intervals) and a mesh peer (defaults).
  bfd: {
    global: NODE,
    peers: [
      { address: parseIP('198.18.0.1'), asn: 65000, bfd: { intervalMs: 100, multiplier: 3 }, ...FAST },
      { address: parseIP('198.18.0.12'), asn: 64512, bfd: {}, ...FAST },
    ],
    announcements: [own('10.244.1.0/26')],
  },
  // Per-session policies: the default import policy on the mesh peer; the ToR
  // also gives the default routes and must not hear one pool's block.
  filters: {
    global: NODE,
    peers: [
      { address: parseIP('198.18.0.1'), asn: 65000, ...FAST, policy: filterPolicy(['default-route', 'hide-b']) },
      { address: parseIP('2001:db8::1'), asn: 65000, ...FAST, policy: filterPolicy(['default-route']) },
      { address: parseIP('198.18.0.12'), asn: 64512, ...FAST, policy: filterPolicy([]) },
    ],
    announcements: [own('10.244.1.0/26'), own('10.245.0.0/26'), own('fd00:10:244:1::/64', '2001:db8::11')],
  },
  // A multi-cluster gateway: a mesh peer it passes the remote's blocks to
  // (next hop self for eBGP-learned routes), and a remote gateway that gets
  // only local pods, its own and those learned from the mesh.
  'remote-gateway': {
    global: NODE,
    peers: [
      { address: parseIP('198.18.0.12'), asn: 64512, ...FAST, type: 'node-to-node mesh', policy: { ...filterPolicy([]), import: [...filterPolicy([]).import, inside('accept', '198.19.16.0/20')], pass: [inside('accept', '198.19.16.0/20')] } },
      {
        address: parseIP('198.18.5.21'),
        asn: 64513,
        ...FAST,
        type: 'remote cluster',
        description: 'remotecluster/b',
        localAddress: parseIP('198.18.5.11'),
        nextHopMode: 'self',
        policy: {
          import: [inside('reject', '198.19.16.128/25'), inside('accept', '198.19.16.0/20')],
          export: [inside('accept', '10.244.0.0/16'), anyRule('reject', 4), anyRule('reject', 6)],
          pass: [inside('accept', '10.244.0.0/16')],
        },
      },
    ],
    announcements: [own('10.244.1.0/26')],
  },
};

function inside(action: 'accept' | 'reject', cidr: string): PolicyRule {
  return insideRule(action, parseCidr(cidr));
}

function filterPolicy(names: string[]): PeerPolicy {
  const pool = (name: string, cidr: string): IPPool => ({
    apiVersion: 'terrace.dev/v1',
    kind: 'IPPool',
    metadata: { name },
    spec: {
      cidr, blockSize: 26, nodeSelector: 'all()', disabled: false, disableBGPExport: false, natOutgoing: false,
      allowedUses: ['Workload'], assignmentMode: 'Automatic', ipipMode: 'Never', vxlanMode: 'Never',
    },
  });
  const filter = (name: string, spec: BGPFilter['spec']): [string, BGPFilter] => [name, { apiVersion: 'terrace.dev/v1', kind: 'BGPFilter', metadata: { name }, spec }];
  const filters = new Map([
    filter('default-route', {
      importV4: [{ action: 'Accept', matchOperator: 'Equal', cidr: '0.0.0.0/0' }],
      importV6: [{ action: 'Accept', matchOperator: 'Equal', cidr: '::/0' }],
    }),
    filter('hide-b', {
      importV4: [{ action: 'Reject', matchOperator: 'In', cidr: '10.244.9.0/24' }],
      exportV4: [{ action: 'Accept', matchOperator: 'Equal', cidr: '10.245.1.0/26' }, { action: 'Reject', matchOperator: 'In', cidr: '10.245.0.0/16' }],
    }),
  ]);
  return compilePolicy({ pools: [pool('a', '10.244.0.0/16'), pool('b', '10.245.0.0/16'), pool('v6', 'fd00:10:244::/48')], filters, names, where: 'test' }).policy;
}
