/**
 * The corpus of refused manifests: each entry is a manifest and the exact
 * message fragment an operator sees for it.
 */
import { describe, expect, it } from '@jest/globals';
import { decodeManifests, isTerraceError } from '../src/index.js';

const T = 'apiVersion: terrace.dev/v1';
const C = 'apiVersion: projectcalico.org/v3';
const pool = (spec: string, name = 'a', api = T): string => `${api}\nkind: IPPool\nmetadata:\n  name: ${name}\nspec:\n${spec}`;
const peer = (spec: string, api = T): string => `${api}\nkind: BGPPeer\nmetadata:\n  name: p\nspec:\n${spec}`;
const bgp = (spec: string, name = 'default', api = T): string => `${api}\nkind: BGPConfiguration\nmetadata:\n  name: ${name}\nspec:\n${spec}`;
const node = (spec: string, api = T): string => `${api}\nkind: Node\nmetadata:\n  name: n1\nspec:\n${spec}`;
const ipam = (spec: string, name = 'default'): string => `${T}\nkind: IPAMConfig\nmetadata:\n  name: ${name}\nspec:\n${spec}`;
const CIDR = '  cidr: 10.244.0.0/16\n';
const PEER = '  peerIP: 198.18.0.1\n  asNumber: 64512\n';

const BAD: Array<[string, string, string]> = [
  // Syntax and document shape
  ['bad YAML indentation', 'kind: IPPool\nmetadata:\n  name: a\n   x: 1\n', 'bad.yaml: invalid YAML at line 3, column 9: Nested mappings are not allowed in compact mappings'],
  ['bad YAML flow', 'kind: IPPool\nspec: {cidr: [10.0.0.0/8\n', 'bad.yaml: invalid YAML at line'],
  ['duplicate YAML key', `${T}\nkind: IPPool\nkind: IPPool\n`, 'bad.yaml: invalid YAML at line 3, column 1: Map keys must be unique'],
  ['bad JSON', '{"apiVersion": "terrace.dev/v1",\n "kind": "IPPool"', 'bad.yaml: invalid YAML at line 2, column 18: Flow map must end with a }'],
  ['document not an object', '- a\n- b\n', 'bad.yaml document 1: a resource must be an object, got a list'],
  ['scalar document', 'hello\n', 'bad.yaml document 1: a resource must be an object, got string "hello"'],
  ['unknown kind', `${T}\nkind: IPPoolz\nmetadata: {name: a}\n`, 'bad.yaml document 1: kind "IPPoolz" is not a Terrace kind (IPPool, BGPPeer, BGPConfiguration, BGPFilter, Node, IPAMConfig, RemoteCluster)'],
  ['Calico kind we lack', `${C}\nkind: GlobalNetworkPolicy\nmetadata: {name: a}\n`, 'kind "GlobalNetworkPolicy" is not a Terrace kind'],
  ['missing kind', `${T}\nmetadata: {name: a}\n`, 'bad.yaml document 1: kind is required'],
  ['wrong apiVersion', `apiVersion: v1\nkind: IPPool\nmetadata: {name: a}\nspec: {cidr: 10.0.0.0/8}\n`, 'bad.yaml document 1 (ippool/a): apiVersion "v1" is not supported; use terrace.dev/v1'],
  ['missing apiVersion', `kind: IPPool\nmetadata: {name: a}\n`, '(ippool/a): apiVersion is required'],
  ['second document bad', `${pool(CIDR)}---\n${pool('  cidr: 10.0.0.0/8\n  foo: 1\n', 'b')}`, 'bad.yaml document 2 (ippool/b): spec.foo is not a supported field'],
  ['duplicate resource', `${pool(CIDR)}---\n${pool(CIDR)}`, 'bad.yaml document 2 (ippool/a): duplicates document 1'],
  ['bad item in List', `${T}\nkind: List\nitems:\n- ${T}\n  kind: Node\n  metadata: {name: Bad_Name}\n`, 'bad.yaml document 1 item 1 (node/Bad_Name): metadata.name "Bad_Name" must be a DNS-1123 subdomain'],
  ['List with unknown field', `${T}\nkind: List\nitems: []\nextra: 1\n`, 'bad.yaml document 1: extra is not a supported field of a List'],
  ['List items not a list', `${T}\nkind: List\nitems: {a: 1}\n`, 'bad.yaml document 1: items must be a list'],
  ['IPPoolList with a BGPPeer item', `${C}\nkind: IPPoolList\nitems:\n- kind: BGPPeer\n  metadata: {name: a}\n`, 'item 1 has kind "BGPPeer" in a IPPoolList'],

  // Unknown fields at several depths
  ['unknown top-level field', `${pool(CIDR)}status: {}\n`, '(ippool/a): status is not a supported field'],
  ['unknown metadata field', `${T}\nkind: IPPool\nmetadata: {name: a, namespace: x}\nspec: {cidr: 10.0.0.0/8}\n`, '(ippool/a): metadata.namespace is not a supported field'],
  ['unknown spec field', pool(`${CIDR}  ipam: true\n`), '(ippool/a): spec.ipam is not a supported field'],
  ['unknown password field', peer(`${PEER}  password: {secretKeyRef: {name: s, key: k}, value: x}\n`), '(bgppeer/p): spec.password.value is not a supported field'],
  ['unknown secretKeyRef field', peer(`${PEER}  password: {secretKeyRef: {name: s, key: k, optional: true}}\n`), 'spec.password.secretKeyRef.optional is not a supported field'],
  ['unknown community field', bgp('  communities:\n  - {name: a, value: "1:1", x: 1}\n'), '(bgpconfiguration/default): spec.communities[0].x is not a supported field'],
  ['unknown node bgp field', node('  bgp: {asNumber: 64512, routerID: 1.2.3.4}\n'), '(node/n1): spec.bgp.routerID is not a supported field'],
  ['unknown IPAMConfig field', ipam('  strictAffinity: true\n  maxBlocks: 3\n'), '(ipamconfig/default): spec.maxBlocks is not a supported field'],

  // Metadata
  ['missing metadata', `${T}\nkind: IPPool\nspec: {cidr: 10.0.0.0/8}\n`, 'bad.yaml document 1 (ippool): metadata.name is required'],
  ['uppercase name', pool(CIDR, 'Pool-A'), '(ippool/Pool-A): metadata.name "Pool-A" must be a DNS-1123 subdomain'],
  ['name ending in dash', pool(CIDR, 'a-'), 'metadata.name "a-" must be a DNS-1123 subdomain'],
  ['name too long', pool(CIDR, 'a'.repeat(254)), 'is 254 characters long; at most 253 are allowed'],
  ['bad label key', `${T}\nkind: Node\nmetadata:\n  name: n\n  labels: {"-bad": x}\n`, '(node/n): metadata.labels["-bad"] key must have a name part'],
  ['bad label prefix', `${T}\nkind: Node\nmetadata:\n  name: n\n  labels: {"Ex.com/a": x}\n`, 'metadata.labels["Ex.com/a"] key has prefix "Ex.com" that must be a DNS-1123 subdomain'],
  ['bad label value', `${T}\nkind: Node\nmetadata:\n  name: n\n  labels: {rack: "r 1"}\n`, '(node/n): metadata.labels.rack value "r 1" must be letters'],
  ['label value not a string', `${T}\nkind: Node\nmetadata:\n  name: n\n  labels: {rack: 1}\n`, 'metadata.labels.rack must be a string, got number 1'],
  ['bad annotation key', `${T}\nkind: Node\nmetadata:\n  name: n\n  annotations: {"a b": x}\n`, 'metadata.annotations["a b"] key must have a name part'],

  // IPPool
  ['pool missing spec', `${T}\nkind: IPPool\nmetadata: {name: a}\n`, '(ippool/a): spec is required'],
  ['pool missing cidr', pool('  disabled: true\n'), '(ippool/a): spec.cidr is required'],
  ['pool unmasked cidr', pool('  cidr: 10.244.1.0/16\n'), '(ippool/a): spec.cidr "10.244.1.0/16" has host bits set; did you mean 10.244.0.0/16?'],
  ['pool unmasked v6 cidr', pool('  cidr: 2001:db8::1/64\n'), 'spec.cidr "2001:db8::1/64" has host bits set; did you mean 2001:db8::/64?'],
  ['pool not a cidr', pool('  cidr: 10.244.0.0\n'), 'spec.cidr "10.244.0.0" is not a valid CIDR'],
  ['pool blockSize too small', pool(`${CIDR}  blockSize: 19\n`), 'spec.blockSize 19 is out of range 20–32 for an IPv4 pool'],
  ['pool blockSize too big', pool(`${CIDR}  blockSize: 33\n`), 'spec.blockSize 33 is out of range 20–32 for an IPv4 pool'],
  ['pool v6 blockSize', pool('  cidr: 2001:db8::/48\n  blockSize: 26\n'), 'spec.blockSize 26 is out of range 116–128 for an IPv6 pool'],
  ['pool block larger than pool', pool('  cidr: 10.0.0.0/28\n  blockSize: 26\n'), 'spec.blockSize 26 is larger than the pool 10.0.0.0/28; use a block size of at least 28'],
  ['pool blockSize not an integer', pool(`${CIDR}  blockSize: "26"\n`), 'spec.blockSize must be an integer, got string "26"'],
  ['pool blockSize fraction', pool(`${CIDR}  blockSize: 26.5\n`), 'spec.blockSize must be an integer, got string "26.5"'],
  ['pool disabled not a bool', pool(`${CIDR}  disabled: "yes"\n`), 'spec.disabled must be true or false, got string "yes"'],
  ['pool natOutgoing not a bool', pool(`${CIDR}  natOutgoing: 1\n`), 'spec.natOutgoing must be true or false, got number 1'],
  ['pool bad nodeSelector', pool(`${CIDR}  nodeSelector: "rack == 'r1' &&"\n`), `(ippool/a): spec.nodeSelector selector "rack == 'r1' &&": expected an expression at column 15 (end of input)`],
  ['pool bad allowedUses', pool(`${CIDR}  allowedUses: [Workload, Pods]\n`), 'spec.allowedUses [1] "Pods" is not one of Workload, Tunnel, LoadBalancer'],
  ['pool allowedUses twice', pool(`${CIDR}  allowedUses: [Workload, Workload]\n`), 'spec.allowedUses lists Workload twice'],
  ['pool allowedUses not a list', pool(`${CIDR}  allowedUses: Workload\n`), 'spec.allowedUses must be a list, got string "Workload"'],
  ['pool bad assignmentMode', pool(`${CIDR}  assignmentMode: Auto\n`), 'spec.assignmentMode "Auto" is not one of Automatic, Manual'],
  ['pool ipipMode Always', pool(`${CIDR}  ipipMode: Always\n`), '(ippool/a): spec.ipipMode "Always" is not supported: Terrace is overlay-free and routes pod traffic natively; use Never'],
  ['pool vxlanMode CrossSubnet', pool(`${CIDR}  vxlanMode: CrossSubnet\n`), 'spec.vxlanMode "CrossSubnet" is not supported: Terrace is overlay-free'],
  ['pool in loopback', pool('  cidr: 127.0.0.0/8\n  blockSize: 26\n', 'x'), 'bad.yaml document 1 (ippool/x): spec.cidr 127.0.0.0/8 overlaps 127.0.0.0/8 (loopback), which pods cannot use'],
  ['pool inside loopback', pool('  cidr: 127.0.5.0/24\n'), 'spec.cidr 127.0.5.0/24 overlaps 127.0.0.0/8 (loopback), which pods cannot use'],
  ['pool in link-local', pool('  cidr: 169.254.0.0/16\n'), "spec.cidr 169.254.0.0/16 overlaps 169.254.0.0/16 (link-local; it holds the pods' gateway 169.254.1.1), which pods cannot use"],
  ['pool holding the pod gateway', pool('  cidr: 169.254.1.0/24\n'), 'overlaps 169.254.0.0/16 (link-local'],
  ['pool in multicast', pool('  cidr: 224.0.3.0/24\n'), 'spec.cidr 224.0.3.0/24 overlaps 224.0.0.0/4 (multicast), which pods cannot use'],
  ['pool in class E', pool('  cidr: 240.0.0.0/8\n'), 'spec.cidr 240.0.0.0/8 overlaps 240.0.0.0/4 (reserved, with the broadcast address 255.255.255.255)'],
  ['pool of the broadcast address', pool('  cidr: 255.255.255.255/32\n  blockSize: 32\n'), 'overlaps 240.0.0.0/4'],
  ['pool in this network', pool('  cidr: 0.0.0.0/8\n'), 'spec.cidr 0.0.0.0/8 overlaps 0.0.0.0/8 ("this network"; 0.0.0.0 means any address)'],
  ['pool of all IPv4', pool('  cidr: 0.0.0.0/0\n'), 'spec.cidr 0.0.0.0/0 overlaps 0.0.0.0/8'],
  ['pool covering a reserved range', pool('  cidr: 96.0.0.0/3\n'), 'spec.cidr 96.0.0.0/3 overlaps 127.0.0.0/8 (loopback)'],
  ['pool of all IPv6', pool('  cidr: ::/0\n'), 'spec.cidr ::/0 overlaps ::/128 (the unspecified address), which pods cannot use'],
  ['pool of IPv6 loopback', pool('  cidr: ::1/128\n  blockSize: 128\n'), 'spec.cidr ::1/128 overlaps ::1/128 (loopback)'],
  ['pool of v4-mapped addresses', pool('  cidr: ::ffff:0:0/104\n  blockSize: 122\n'), 'spec.cidr ::ffff:0:0/104 overlaps ::ffff:0:0/96 (IPv4-mapped addresses)'],
  ['pool in IPv6 link-local', pool('  cidr: fe80::/64\n'), 'spec.cidr fe80::/64 overlaps fe80::/10 (link-local), which pods cannot use'],
  ['pool in IPv6 multicast', pool('  cidr: ff02::/16\n'), 'spec.cidr ff02::/16 overlaps ff00::/8 (multicast)'],
  ['Calico pool in loopback', pool('  cidr: 127.0.0.0/8\n', 'a', C), '(ippool/a): spec.cidr 127.0.0.0/8 overlaps 127.0.0.0/8 (loopback), which pods cannot use'],
  ['Calico pool list in multicast', `${C}\nkind: IPPoolList\nitems:\n- metadata: {name: m}\n  spec: {cidr: 224.0.3.128/25}\n`, 'item 1 (ippool/m): spec.cidr 224.0.3.128/25 overlaps 224.0.0.0/4 (multicast)'],
  ['Calico pool ipipMode Always', pool(`${CIDR}  ipipMode: Always\n`, 'a', C), '(ippool/a): spec.ipipMode "Always" is not supported: Terrace is overlay-free'],
  ['Calico pool deprecated ipip', pool(`${CIDR}  ipip: {enabled: true}\n`, 'a', C), '(ippool/a): spec.ipip is a Calico field Terrace does not support: it configures an IP-in-IP overlay'],
  ['Calico pool nat-outgoing', pool(`${CIDR}  nat-outgoing: true\n`, 'a', C), 'spec.nat-outgoing is a Calico field Terrace does not support: it is the deprecated spelling; use natOutgoing'],

  // BGPPeer
  ['peer missing spec', `${T}\nkind: BGPPeer\nmetadata: {name: p}\n`, '(bgppeer/p): spec is required'],
  ['peer neither peerIP nor selector', peer('  asNumber: 64512\n'), '(bgppeer/p): spec.peerIP is required (or set spec.peerSelector)'],
  ['peer both peerIP and selector', peer(`${PEER}  peerSelector: has(rr)\n`), 'spec.peerSelector cannot be set together with spec.peerIP'],
  ['peer bad peerIP', peer('  peerIP: 198.18.0.300\n  asNumber: 64512\n'), '(bgppeer/p): spec.peerIP "198.18.0.300" is not an IP address or IP:port'],
  ['peer bad port', peer('  peerIP: "198.18.0.1:70000"\n  asNumber: 64512\n'), 'spec.peerIP "198.18.0.1:70000" is not an IP address or IP:port'],
  ['peer hostname', peer('  peerIP: tor1.example.com\n  asNumber: 64512\n'), 'spec.peerIP "tor1.example.com" is not an IP address'],
  ['peer missing asNumber', peer('  peerIP: 198.18.0.1\n'), 'spec.asNumber is required with spec.peerIP'],
  ['peer asNumber zero', peer('  peerIP: 198.18.0.1\n  asNumber: 0\n'), '(bgppeer/p): spec.asNumber 0 is out of range 1–4294967295'],
  ['peer asNumber too big', peer('  peerIP: 198.18.0.1\n  asNumber: 4294967296\n'), 'spec.asNumber 4294967296 is out of range 1–4294967295'],
  ['peer asNumber bad asdot', peer('  peerIP: 198.18.0.1\n  asNumber: 1.70000\n'), 'spec.asNumber "1.70000" is not valid asdot: each half must be 0–65535'],
  ['peer asNumber text', peer('  peerIP: 198.18.0.1\n  asNumber: AS64512\n'), 'spec.asNumber "AS64512" is not an AS number'],
  ['peer asNumber with peerSelector', peer('  peerSelector: has(rr)\n  asNumber: 64512\n'), 'spec.asNumber cannot be used with spec.peerSelector'],
  ['peer node and nodeSelector', peer(`${PEER}  node: n1\n  nodeSelector: all()\n`), 'spec.nodeSelector cannot be set together with spec.node'],
  ['peer bad node name', peer(`${PEER}  node: N_1\n`), 'spec.node "N_1" must be a DNS-1123 subdomain'],
  ['peer bad peerSelector', peer("  peerSelector: \"rr in {'a'\"\n"), `(bgppeer/p): spec.peerSelector selector "rr in {'a'": expected ',' or '}' at column 10`],
  ['peer bad nodeSelector', peer(`${PEER}  nodeSelector: "has(rack"\n`), `spec.nodeSelector selector "has(rack": expected ')'`],
  ['peer password without secretKeyRef', peer(`${PEER}  password: {}\n`), 'spec.password.secretKeyRef is required'],
  ['peer password missing key', peer(`${PEER}  password: {secretKeyRef: {name: bgp}}\n`), 'spec.password.secretKeyRef.key is required'],
  ['peer password bad key', peer(`${PEER}  password: {secretKeyRef: {name: bgp, key: "a/b"}}\n`), 'spec.password.secretKeyRef.key "a/b" must be letters'],
  ['peer bad maxRestartTime', peer(`${PEER}  maxRestartTime: 120\n`), 'spec.maxRestartTime must be a string, got number 120'],
  ['peer bad keepaliveTime', peer(`${PEER}  keepaliveTime: 30 seconds\n`), 'spec.keepaliveTime "30 seconds" is not a duration (write it like 90s, 1m30s or 500ms)'],
  ['peer negative duration', peer(`${PEER}  keepaliveTime: -30s\n`), 'spec.keepaliveTime "-30s" is not a duration'],
  ['peer bad nextHopMode', peer(`${PEER}  nextHopMode: self\n`), 'spec.nextHopMode "self" is not one of Auto, Self, Keep'],
  ['peer ttlSecurity zero', peer(`${PEER}  ttlSecurity: 0\n`), 'spec.ttlSecurity 0 is out of range 1–255'],
  ['peer ttlSecurity 256', peer(`${PEER}  ttlSecurity: 256\n`), 'spec.ttlSecurity 256 is out of range 1–255'],
  ['peer bad sourceAddress', peer(`${PEER}  sourceAddress: Auto\n`), 'spec.sourceAddress "Auto" is not one of UseNodeIP, None'],
  ['Calico peer keepOriginalNextHop', peer(`${PEER}  keepOriginalNextHop: true\n`, C), '(bgppeer/p): spec.keepOriginalNextHop is a Calico field Terrace does not support: use nextHopMode: Keep'],
  ['Calico peer BFD mode', peer(`${PEER}  failureDetectionMode: Always\n`, C), 'spec.failureDetectionMode "Always" is not None or BFDIfDirectlyConnected'],

  // BGPConfiguration
  ['bgpconfig bad name', bgp('  asNumber: 64512\n', 'global'), '(bgpconfiguration/global): metadata.name "global" must be "default" (cluster-wide) or "node.<nodename>" (one node)'],
  ['bgpconfig mesh on a node', bgp('  nodeToNodeMeshEnabled: false\n', 'node.n1'), '(bgpconfiguration/node.n1): spec.nodeToNodeMeshEnabled is only meaningful on bgpconfiguration/default'],
  ['bgpconfig mesh not a bool', bgp('  nodeToNodeMeshEnabled: "false"\n'), 'spec.nodeToNodeMeshEnabled must be true or false, got string "false"'],
  ['bgpconfig listenPort', bgp('  listenPort: 0\n'), 'spec.listenPort 0 is out of range 1–65535'],
  ['bgpconfig listenPort high', bgp('  listenPort: 65536\n'), 'spec.listenPort 65536 is out of range 1–65535'],
  ['bgpconfig asNumber', bgp('  asNumber: -5\n'), 'spec.asNumber -5 is out of range 1–4294967295'],
  ['bgpconfig log severity', bgp('  logSeverityScreen: Verbose\n'), 'spec.logSeverityScreen "Verbose" is not one of Debug, Info, Warning, Error, Fatal'],
  ['bgpconfig keepaliveTime', bgp('  keepaliveTime: 10x\n'), 'spec.keepaliveTime "10x" is not a duration'],
  ['bgpconfig community value', bgp('  communities:\n  - {name: a, value: "65536:1"}\n'), 'spec.communities[0].value "65536:1" is not a standard community: each half of aa:nn must be 0–65535'],
  ['bgpconfig large community value', bgp('  communities:\n  - {name: a, value: "1:2:4294967296"}\n'), 'spec.communities[0].value "1:2:4294967296" is not a large community'],
  ['bgpconfig community form', bgp('  communities:\n  - {name: a, value: "100"}\n'), 'spec.communities[0].value "100" is not a community value (write aa:nn or aa:nn:mm)'],
  ['bgpconfig community twice', bgp('  communities:\n  - {name: a, value: "1:1"}\n  - {name: a, value: "1:2"}\n'), 'spec.communities[1].name "a" is defined twice'],
  ['bgpconfig community missing name', bgp('  communities:\n  - {value: "1:1"}\n'), 'spec.communities[0].name is required'],
  ['bgpconfig communities not a list', bgp('  communities: {a: "1:1"}\n'), 'spec.communities must be a list, got an object'],
  ['bgpconfig advertisement community undefined', bgp('  prefixAdvertisements:\n  - cidr: 10.0.0.0/8\n    communities: [nope]\n'), 'spec.prefixAdvertisements[0].communities [0] "nope" is neither a community defined in spec.communities nor a value'],
  ['bgpconfig advertisement cidr', bgp('  prefixAdvertisements:\n  - cidr: 10.0.0.1/8\n'), 'spec.prefixAdvertisements[0].cidr "10.0.0.1/8" has host bits set'],
  ['bgpconfig serviceClusterIPs', bgp('  serviceClusterIPs:\n  - cidr: 10.96.0.0/300\n'), 'spec.serviceClusterIPs[0].cidr "10.96.0.0/300" is not a valid CIDR'],
  ['bgpconfig serviceExternalIPs item', bgp('  serviceExternalIPs:\n  - 10.0.0.0/8\n'), 'spec.serviceExternalIPs[0] must be an object, got string'],
  ['bgpconfig service range on a node', bgp('  serviceClusterIPs:\n  - cidr: 10.96.0.0/12\n', 'node.n1'), 'spec.serviceClusterIPs is only meaningful on bgpconfiguration/default (every node announces it); set it there'],
  ['bgpconfig serviceLoadBalancerIPs', bgp('  serviceLoadBalancerIPs:\n  - cidr: 10.0.0.1/8\n'), 'spec.serviceLoadBalancerIPs[0].cidr "10.0.0.1/8" has host bits set'],

  // Node
  ['node ipv4Address without prefix', node('  bgp: {ipv4Address: 198.18.0.11}\n'), '(node/n1): spec.bgp.ipv4Address "198.18.0.11" must be an IPv4 address with its prefix length, e.g. 198.18.0.11/24'],
  ['node ipv4Address is v6', node('  bgp: {ipv4Address: "2001:db8::1/64"}\n'), 'spec.bgp.ipv4Address "2001:db8::1/64" must be an IPv4 address'],
  ['node ipv6Address is v4', node('  bgp: {ipv6Address: 198.18.0.11/24}\n'), 'spec.bgp.ipv6Address "198.18.0.11/24" must be an IPv6 address with its prefix length, e.g. 2001:db8::11/64'],
  ['node bad prefix', node('  bgp: {ipv4Address: 198.18.0.11/33}\n'), 'spec.bgp.ipv4Address "198.18.0.11/33" must be an IPv4 address'],
  ['node asNumber', node('  bgp: {asNumber: 0}\n'), 'spec.bgp.asNumber 0 is out of range'],
  ['node routeReflectorClusterID', node('  bgp: {routeReflectorClusterID: rr-1}\n'), 'spec.bgp.routeReflectorClusterID "rr-1" must be written like an IPv4 address'],
  ['node bgp not an object', node('  bgp: true\n'), 'spec.bgp must be an object, got boolean true'],
  ['Calico node IPIP tunnel', node('  bgp: {ipv4Address: 198.18.0.11/24, ipv4IPIPTunnelAddr: 192.168.0.1}\n', C), '(node/n1): spec.bgp.ipv4IPIPTunnelAddr is a Calico field Terrace does not support: it configures an IP-in-IP overlay'],
  ['Calico node VXLAN tunnel', node('  ipv4VXLANTunnelAddr: 192.168.0.1\n', C), 'spec.ipv4VXLANTunnelAddr is a Calico field Terrace does not support: it configures a VXLAN overlay'],
  ['Calico node status', `${node('  bgp: {asNumber: 64512}\n', C)}status: {podCIDRs: []}\n`, '(node/n1): status is a Calico field Terrace does not support: it is written by Calico'],

  // IPAMConfig
  ['ipamconfig name', ipam('  strictAffinity: true\n', 'main'), '(ipamconfig/main): metadata.name "main" must be "default"'],
  ['ipamconfig strictAffinity', ipam('  strictAffinity: "true"\n'), 'spec.strictAffinity must be true or false, got string "true"'],
  ['ipamconfig maxBlocksPerHost negative', ipam('  maxBlocksPerHost: -1\n'), 'spec.maxBlocksPerHost -1 is out of range 0–2147483647'],
  ['ipamconfig maxBlocksPerHost fraction', ipam('  maxBlocksPerHost: 2.5\n'), 'spec.maxBlocksPerHost must be an integer, got string "2.5"'],
  ['ipamconfig autoAllocateBlocks', ipam('  autoAllocateBlocks: no\n'), 'spec.autoAllocateBlocks must be true or false, got string "no"'],
  ['spec not an object', `${T}\nkind: IPAMConfig\nmetadata: {name: default}\nspec: [1]\n`, '(ipamconfig/default): spec must be an object, got a list'],
];

describe('refused manifests', () => {
  it('has a corpus of at least 45 cases with distinct names', () => {
    expect(BAD.length).toBeGreaterThanOrEqual(45);
    expect(new Set(BAD.map(([n]) => n)).size).toBe(BAD.length);
  });

  it.each(BAD)('%s', (_name, text, message) => {
    let err: unknown;
    try {
      decodeManifests(text, 'bad.yaml');
    } catch (e) {
      err = e;
    }
    expect(isTerraceError(err, 'Invalid')).toBe(true);
    expect((err as Error).message).toContain(message);
    // One line: the CLI prints it as is.
    expect((err as Error).message).not.toContain('\n');
  });
});
