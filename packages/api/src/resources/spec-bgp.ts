/**
 * BGPPeer and BGPConfiguration: who each node peers with, and the cluster's
 * (or one node's) BGP settings.
 */
import { invalidField, quote } from '../errors.js';
import { formatIP, parseHostPort } from '../net/ip.js';
import type { Fields } from './fields.js';
import { dnsSubdomainProblem } from './meta.js';
import { validateSelectorField } from './selector.js';
import { parseDuration } from '../duration.js';
import type { BFDSpec, BGPConfigurationSpec, BGPPassword, BGPPeerSpec, Community, NextHopMode, PrefixAdvertisement } from './types.js';
import { communityValueProblem, readAsn, readCidr, readDuration, readSecretKeyRef } from './values.js';

export const BGPPEER_FIELDS = [
  'peerIP', 'asNumber', 'node', 'nodeSelector', 'peerSelector', 'password',
  'maxRestartTime', 'keepaliveTime', 'nextHopMode', 'ttlSecurity', 'sourceAddress', 'bfd', 'filters',
] as const;

export const BGPCONFIG_FIELDS = [
  'nodeToNodeMeshEnabled', 'asNumber', 'listenPort', 'keepaliveTime', 'logSeverityScreen',
  'communities', 'prefixAdvertisements', 'serviceClusterIPs', 'serviceExternalIPs', 'serviceLoadBalancerIPs',
  'nodeToNodeMeshBFD', 'nodeMeshPassword', 'nodeMeshMaxRestartTime',
] as const;

const BFD_FIELDS = ['interval', 'multiplier'] as const;

/** `bfd: {interval, multiplier}` (both optional; an empty object turns BFD on with the defaults). */
function readBFD(f: Fields, key: string): BFDSpec | undefined {
  const b: Fields | undefined = f.object(key, BFD_FIELDS);
  if (!b) return undefined;
  const out: BFDSpec = {};
  const interval = readDuration(b, 'interval');
  if (interval !== undefined) {
    const ms = parseDuration(interval, b.at('interval'));
    if (ms < 10 || ms > 10_000) b.fail('interval', `${quote(interval)} must be from 10ms to 10s`);
    out.interval = interval;
  }
  const multiplier = b.int('multiplier', 1, 255);
  if (multiplier !== undefined) out.multiplier = multiplier;
  return out;
}


function readSelector(f: Fields, key: string): string | undefined {
  const s = f.string(key);
  if (s === undefined) return undefined;
  validateSelectorField(f.ref, f.at(key), s);
  return s.trim();
}

/** `ip` or `ip:port` in canonical form (`[v6]:port` for IPv6 with a port). */
function readPeerIP(f: Fields): string | undefined {
  const s = f.string('peerIP');
  if (s === undefined) return undefined;
  const hp = parseHostPort(s.trim());
  if (!hp) f.fail('peerIP', `${quote(s)} is not an IP address or IP:port`);
  const ip = formatIP(hp.ip);
  if (hp.port === undefined) return ip;
  return hp.ip.family === 6 ? `[${ip}]:${hp.port}` : `${ip}:${hp.port}`;
}

export function readBGPPeerSpec(f: Fields): BGPPeerSpec {
  const peerIP = readPeerIP(f);
  const peerSelector = readSelector(f, 'peerSelector');
  if (peerIP !== undefined && peerSelector !== undefined) {
    f.fail('peerSelector', 'cannot be set together with spec.peerIP; a peer is either one address or the nodes a selector picks');
  }
  if (peerIP === undefined && peerSelector === undefined) f.fail('peerIP', 'is required (or set spec.peerSelector)');
  const asNumber = readAsn(f, 'asNumber');
  if (peerIP !== undefined && asNumber === undefined) f.fail('asNumber', 'is required with spec.peerIP');
  if (peerSelector !== undefined && asNumber !== undefined) {
    f.fail('asNumber', "cannot be used with spec.peerSelector; the selected nodes' own AS numbers are used");
  }

  const node = f.string('node');
  if (node !== undefined) {
    const p = dnsSubdomainProblem(node);
    if (p) f.fail('node', `${quote(node)} ${p}`);
  }
  const nodeSelector = readSelector(f, 'nodeSelector');
  if (node !== undefined && nodeSelector !== undefined) {
    f.fail('nodeSelector', 'cannot be set together with spec.node; choose one node or a selector');
  }

  const out: BGPPeerSpec = {};
  if (peerIP !== undefined) out.peerIP = peerIP;
  if (asNumber !== undefined) out.asNumber = asNumber;
  if (node !== undefined) out.node = node;
  if (nodeSelector !== undefined) out.nodeSelector = nodeSelector;
  if (peerSelector !== undefined) out.peerSelector = peerSelector;

  const password = readPassword(f, 'password');
  if (password) out.password = password;

  const maxRestartTime = readDuration(f, 'maxRestartTime');
  if (maxRestartTime !== undefined) out.maxRestartTime = maxRestartTime;
  const keepaliveTime = readDuration(f, 'keepaliveTime');
  if (keepaliveTime !== undefined) out.keepaliveTime = keepaliveTime;
  const nextHopMode = f.oneOf<NextHopMode>('nextHopMode', ['Auto', 'Self', 'Keep']);
  if (nextHopMode !== undefined) out.nextHopMode = nextHopMode;
  const ttlSecurity = f.int('ttlSecurity', 1, 255);
  if (ttlSecurity !== undefined) out.ttlSecurity = ttlSecurity;
  const sourceAddress = f.oneOf('sourceAddress', ['UseNodeIP', 'None'] as const);
  if (sourceAddress !== undefined) out.sourceAddress = sourceAddress;
  const bfd = readBFD(f, 'bfd');
  if (bfd !== undefined) out.bfd = bfd;
  const filters = readFilterNames(f);
  if (filters !== undefined) out.filters = filters;
  return out;
}

/** The BGPConfiguration fields whose cidrs every node announces (Calico's). */
export const SERVICE_RANGE_FIELDS = ['serviceClusterIPs', 'serviceExternalIPs', 'serviceLoadBalancerIPs'] as const;

/** `filters: [name, ...]`: BGPFilter names, each a DNS subdomain, none twice. */
function readFilterNames(f: Fields): string[] | undefined {
  const items = f.list('filters');
  if (items === undefined) return undefined;
  const seen = new Set<string>();
  return items.map((v, i): string => {
    const fail = (reason: string): never => {
      throw invalidField(f.ref, `${f.at('filters')}[${i}]`, reason);
    };
    if (typeof v !== 'string') return fail(`must be a BGPFilter name, got ${typeof v}`);
    const p = dnsSubdomainProblem(v);
    if (p) fail(`${quote(v)} ${p}`);
    if (seen.has(v)) fail(`${quote(v)} is listed twice`);
    seen.add(v);
    return v;
  });
}

/** `{secretKeyRef: {name, key}}`: where a TCP MD5 password is read from (never the password itself). */
function readPassword(f: Fields, field: string): BGPPassword | undefined {
  const pw: Fields | undefined = f.object(field, ['secretKeyRef']);
  if (!pw) return undefined;
  const ref = readSecretKeyRef(pw, 'secretKeyRef');
  if (!ref) return pw.fail('secretKeyRef', 'is required');
  return { secretKeyRef: ref };
}

const COMMUNITY_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export function readBGPConfigurationSpec(f: Fields, isDefault: boolean): BGPConfigurationSpec {
  const out: BGPConfigurationSpec = {};
  const mesh = f.bool('nodeToNodeMeshEnabled');
  if (mesh !== undefined) {
    if (!isDefault) f.fail('nodeToNodeMeshEnabled', 'is only meaningful on bgpconfiguration/default; set it there');
    out.nodeToNodeMeshEnabled = mesh;
  }
  const asNumber = readAsn(f, 'asNumber');
  if (asNumber !== undefined) out.asNumber = asNumber;
  const listenPort = f.int('listenPort', 1, 65535);
  if (listenPort !== undefined) out.listenPort = listenPort;
  const keepaliveTime = readDuration(f, 'keepaliveTime');
  if (keepaliveTime !== undefined) out.keepaliveTime = keepaliveTime;
  const severity = f.oneOf('logSeverityScreen', ['Debug', 'Info', 'Warning', 'Error', 'Fatal'] as const);
  if (severity !== undefined) out.logSeverityScreen = severity;

  const communityItems = f.objectList('communities', ['name', 'value']);
  const names = new Set<string>();
  if (communityItems) {
    const communities: Community[] = [];
    for (const c of communityItems) {
      const name = c.requiredString('name');
      if (!COMMUNITY_NAME.test(name)) c.fail('name', `${quote(name)} must be letters, digits, "-", "_" and "."`);
      if (names.has(name)) c.fail('name', `${quote(name)} is defined twice`);
      names.add(name);
      const value = c.requiredString('value');
      const p = communityValueProblem(value);
      if (p) c.fail('value', p);
      communities.push({ name, value });
    }
    out.communities = communities;
  }

  const adItems = f.objectList('prefixAdvertisements', ['cidr', 'communities']);
  if (adItems) {
    const ads: PrefixAdvertisement[] = [];
    for (const a of adItems as Fields[]) {
      const cidr = readCidr(a, 'cidr');
      const refs = a.list('communities') ?? [];
      const communities = refs.map((r, i): string => {
        if (typeof r !== 'string') return a.fail('communities', `[${i}] must be a string, got ${typeof r}`);
        if (names.has(r) || communityValueProblem(r) === undefined) return r;
        return a.fail('communities', `[${i}] ${quote(r)} is neither a community defined in spec.communities nor a value like aa:nn or aa:nn:mm`);
      });
      ads.push({ cidr, communities });
    }
    out.prefixAdvertisements = ads;
  }

  for (const key of SERVICE_RANGE_FIELDS) {
    const items = f.objectList(key, ['cidr']);
    if (items && !isDefault) f.fail(key, 'is only meaningful on bgpconfiguration/default (every node announces it); set it there');
    if (items) out[key] = items.map((i) => ({ cidr: readCidr(i, 'cidr') }));
  }
  const meshBfd = readBFD(f, 'nodeToNodeMeshBFD');
  if (meshBfd !== undefined) {
    if (!isDefault) f.fail('nodeToNodeMeshBFD', 'is only meaningful on bgpconfiguration/default; set it there');
    out.nodeToNodeMeshBFD = meshBfd;
  }
  const meshPassword = readPassword(f, 'nodeMeshPassword');
  if (meshPassword !== undefined) {
    if (!isDefault) f.fail('nodeMeshPassword', 'is only meaningful on bgpconfiguration/default; set it there');
    out.nodeMeshPassword = meshPassword;
  }
  const meshRestart = readDuration(f, 'nodeMeshMaxRestartTime');
  if (meshRestart !== undefined) {
    if (!isDefault) f.fail('nodeMeshMaxRestartTime', 'is only meaningful on bgpconfiguration/default; set it there');
    out.nodeMeshMaxRestartTime = meshRestart;
  }
  return out;
}
