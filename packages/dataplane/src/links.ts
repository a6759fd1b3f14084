/**
 * Pod interface wiring: a veth pair per pod interface, the pod end created
 * directly in the pod's namespace, a /32 (/128) on it, and a default route to
 * a link-local gateway that the host end answers for.
 *
 * The pod reaches the gateway through a permanent neighbour entry pointing at
 * the host end's MAC, so no ARP/NDP is needed for its first packet; the host
 * end still runs proxy ARP (and proxy NDP) so that a pod whose neighbour
 * table is flushed keeps working. Namespaces are given as paths (CNI_NETNS is
 * one), so nothing needs a name under /var/run/netns.
 *
 * The host route to the pod (podHostRoutes) is not installed here: route
 * sync owns every route of our protocol, and the agent hands it those routes.
 *
 * ADD and DEL are rtnetlink requests and sysctl writes through one
 * long-lived relay process (linkrelay.ts), which enters the namespaces by
 * path: an ADD is two frames (create the veth and set up the host end; then
 * configure the pod end, whose index the first frame's answer gives), a DEL
 * one; no process is started per pod. CHECK, which is rare, reads with
 * `ip -j` and `sysctl` in the namespaces (`nsenter --net=PATH`).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { TerraceError, cidr, formatIP, parseIP, type IPAddr } from '@terrace/api';
import { DEFAULT_IP_COMMAND, MAX_IFNAME_LENGTH, ROUTE_PROTOCOL } from './constants.js';
import { encodeDefaultRoute, encodeDelLink, encodeGetLinkByName, encodeHostAddr, encodeLinkUp, encodeNewVeth, encodePermanentNeigh } from './linkmsg.js';
import { sharedLinkRelay, type LinkRelay, type StepFailure } from './linkrelay.js';
import { checkPodNetns, podNetnsRefusal } from './podns.js';
import { deviceRoute, type UnicastRoute } from './route.js';

/** The gateway pods route IPv4 through; never assigned to anything, answered by the host end. */
export const POD_GATEWAY_V4 = '169.254.1.1';
/** The IPv6 gateway; link-local, so it is on-link on every pod's interface. */
export const POD_GATEWAY_V6 = 'fe80::1';
/** Host ends of pod veths are `tr` + 11 hex digits: 13 bytes, under IFNAMSIZ. */
export const HOST_VETH_PREFIX = 'tr';
const HOST_VETH_RE = /^tr[0-9a-f]{11}$/;

export interface PodInterfaceRef {
  /** The runtime's container id (CNI_CONTAINERID). */
  containerId: string;
  /** The interface name inside the pod (CNI_IFNAME). */
  ifname: string;
  /**
   * The namespace holding the host ends, as a path; default this process's
   * own. Tests pass a lab namespace here.
   */
  hostNetns?: string;
  /** The iproute2 binary CHECK reads with (default `ip` on PATH). */
  ipCommand?: string;
  /**
   * The relay that carries ADD's and DEL's requests; default the process's
   * shared one (sharedLinkRelay). Give every call the same relay: one
   * process serves all pods.
   */
  relay?: LinkRelay;
}

export interface PodWiring extends PodInterfaceRef {
  /** The pod's network namespace path (CNI_NETNS). */
  netns: string;
  /** The pod's addresses, each installed as a /32 or /128. */
  addresses: readonly IPAddr[];
  mtu: number;
}

export interface WiredPod {
  hostIfname: string;
  hostMac: string;
  podIfname: string;
  podMac: string;
  /** The pod namespace path, as the CNI result's `sandbox`. */
  sandbox: string;
  mtu: number;
  /** `addr/32` and `addr/128` strings as the pod holds them. */
  addresses: string[];
}

function digest(ref: PodInterfaceRef): Buffer {
  // The interface name is part of the key: one container may have several
  // interfaces (several networks), each with its own veth.
  return createHash('sha256').update(`${ref.containerId}/${ref.ifname}`).digest();
}

/** The host end's name for a pod interface: stable, so DEL needs nothing but the ids. */
export function hostVethName(containerId: string, ifname: string): string {
  return HOST_VETH_PREFIX + digest({ containerId, ifname }).toString('hex').slice(0, 11);
}

/** True for interface names this module creates (route sync and GC use it). */
export function isPodHostVeth(name: string): boolean {
  return HOST_VETH_RE.test(name);
}

function mac(first: number, bytes: Buffer): string {
  // first is a locally administered unicast octet (bit 1 set, bit 0 clear).
  return [first, ...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Deterministic MACs, so a retried ADD reports the same result. */
export function podMacs(containerId: string, ifname: string): { host: string; pod: string } {
  const d = digest({ containerId, ifname });
  return { host: mac(0xee, d.subarray(8, 13)), pod: mac(0x0a, d.subarray(13, 18)) };
}

function hostLen(a: IPAddr): number {
  return a.family === 4 ? 32 : 128;
}

/**
 * The host routes to a pod interface, the one definition of them: device
 * routes through the host end, with our protocol. Route sync installs them
 * (it is the only writer of our protocol's routes); wirePod does not, and
 * checkPod reports them missing.
 */
export function podHostRoutes(containerId: string, ifname: string, addresses: readonly IPAddr[]): UnicastRoute[] {
  const dev = hostVethName(containerId, ifname);
  return addresses.map((a) => deviceRoute(cidr(a.family, a.value, hostLen(a)), dev));
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs argv in a namespace (or here), feeding `input` on stdin. Never throws for a non-zero exit. */
function runIn(netns: string | undefined, argv: readonly string[], input?: string): Promise<RunResult> {
  const full = netns === undefined ? [...argv] : ['nsenter', `--net=${netns}`, '--', ...argv];
  return new Promise((resolve, reject) => {
    const child = spawn(full[0] ?? '', full.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e) => reject(new TerraceError('Internal', `cannot run ${full[0] ?? ''}: ${e.message}`, { cause: e })));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr: stderr.trim() }));
    child.stdin.on('error', () => undefined); // a child that exits early closes its stdin
    child.stdin.end(input ?? '');
  });
}

function checkRef(ref: PodInterfaceRef): void {
  if (ref.ifname === '' || Buffer.byteLength(ref.ifname) > MAX_IFNAME_LENGTH || /[\s/:%]/.test(ref.ifname)) {
    throw new TerraceError('Invalid', `pod interface ${JSON.stringify(ref.ifname)}: not a valid interface name`, { field: 'ifname' });
  }
  if (ref.containerId === '') throw new TerraceError('Invalid', 'pod interface: container id is empty', { field: 'containerId' });
}

function checkWiring(w: PodWiring): void {
  checkRef(w);
  if (!w.netns.startsWith('/')) throw new TerraceError('Invalid', `pod ${w.containerId}: netns ${JSON.stringify(w.netns)} is not a path`, { field: 'netns' });
  if (w.addresses.length === 0) throw new TerraceError('Invalid', `pod ${w.containerId}: no address to wire`, { field: 'addresses' });
  if (!Number.isInteger(w.mtu) || w.mtu < 576 || w.mtu > 65535) {
    throw new TerraceError('Invalid', `pod ${w.containerId}: mtu ${w.mtu} is outside 576–65535`, { field: 'mtu' });
  }
}

/** The host end's per-interface sysctls: answer for the gateway, at once. */
export function hostSysctls(hostIf: string, families: ReadonlySet<4 | 6>): string[] {
  const out: string[] = [];
  if (families.has(4)) out.push(`net.ipv4.conf.${hostIf}.proxy_arp=1`, `net.ipv4.neigh.${hostIf}.proxy_delay=0`);
  if (families.has(6)) out.push(`net.ipv6.conf.${hostIf}.proxy_ndp=1`);
  return out;
}

/** The host namespace's forwarding sysctls; global, so written once per namespace. */
export function forwardingSysctls(families: ReadonlySet<4 | 6>): string[] {
  const out: string[] = [];
  if (families.has(4)) out.push('net.ipv4.ip_forward=1');
  if (families.has(6)) out.push('net.ipv6.conf.all.forwarding=1');
  return out;
}

/** Forwarding sysctls already written, as `<host namespace path>|<key=value>` ('' for our own namespace). */
const forwardingSet = new Set<string>();

const GATEWAY = { 4: parseIP(POD_GATEWAY_V4), 6: parseIP(POD_GATEWAY_V6) } as const;

function sysctl(kv: string): [string, string] {
  const eq = kv.indexOf('=');
  return [kv.slice(0, eq), kv.slice(eq + 1)];
}

function failed(what: string, f: StepFailure): TerraceError {
  return new TerraceError('Internal', `${what}: ${f.step}: ${f.message}`);
}

/** Deletes the host end (and with it the pod end); false when there was none. */
async function deleteHostEnd(relay: LinkRelay, hostNetns: string | undefined, hostIf: string): Promise<boolean> {
  const f = relay.frame();
  if (hostNetns !== undefined) f.netns(hostNetns);
  f.netlink((m, step) => encodeDelLink(m, hostIf, step(`delete ${hostIf}`), true));
  const out = await relay.run(f);
  const fail = out.failures[0];
  if (fail === undefined) return true;
  if (fail.code === 'ENODEV') return false;
  throw failed(`delete link ${hostIf}`, fail);
}

/**
 * Wires a pod interface. CNI_NETNS is checked first (it exists, is a network
 * namespace, and is not the node's own). On any failure everything done so
 * far is undone (the veth pair) before the error, one line, is thrown. A
 * leftover host end from an earlier attempt is replaced, once.
 */
export async function wirePod(w: PodWiring): Promise<WiredPod> {
  checkWiring(w);
  checkPodNetns(w.netns, w.hostNetns);
  const relay = w.relay ?? sharedLinkRelay();
  const hostIf = hostVethName(w.containerId, w.ifname);
  const macs = podMacs(w.containerId, w.ifname);
  const families = new Set(w.addresses.map((a) => a.family));
  const forwarding = forwardingSysctls(families).filter((kv) => !forwardingSet.has(`${w.hostNetns ?? ''}|${kv}`));
  const createStep = `create ${hostIf}`;
  const findStep = `find ${w.ifname}`;
  const checkStep = `check ${w.netns}`;

  // Frame one: the veth (pod end straight into the pod's namespace), the host
  // end's sysctls and link, then the pod end's index and the pod's loopback.
  const create = async (): Promise<{ index?: number; fail?: StepFailure }> => {
    // Entering the pod's namespace first checks that it is a network
    // namespace (checkPodNetns cannot tell the kinds apart) before anything changes.
    const f = relay.frame().netns(w.netns, checkStep).netns(w.hostNetns);
    f.netlink((m, step, fd) => {
      const at = encodeNewVeth(m, { hostIfname: hostIf, hostMac: macs.host, peerIfname: w.ifname, peerMac: macs.pod, mtu: w.mtu }, step(createStep), true);
      fd(at, w.netns);
    });
    for (const kv of [...hostSysctls(hostIf, families), ...forwarding]) f.sysctl(...sysctl(kv));
    f.netlink((m, step) => encodeLinkUp(m, hostIf, step(`set ${hostIf} up`), true));
    f.netns(w.netns);
    f.netlink((m, step) => {
      encodeGetLinkByName(m, w.ifname, step(findStep), true);
      encodeLinkUp(m, 'lo', step('set lo up'), true);
    });
    const out = await relay.run(f);
    const fail = out.failures[0];
    return fail !== undefined ? { fail } : { index: out.links.get(findStep) };
  };

  // Until known otherwise the veth may exist (a lost frame may have made it),
  // and a failure removes it.
  let undo = true;
  try {
    const taken = (r: { fail?: StepFailure }): boolean => r.fail?.code === 'EEXIST' && r.fail.step === createStep;
    let first = await create();
    if (taken(first)) {
      // A host end left by an earlier ADD (the runtime retried, the agent
      // restarted mid-way) holds the name: remove it, with its pod end, once.
      // If there was none, the name is taken in the pod.
      if (!(await deleteHostEnd(relay, w.hostNetns, hostIf))) {
        undo = false;
        throw new TerraceError('AlreadyExists', `pod ${w.containerId}: interface ${w.ifname} already exists in ${w.netns}`, { field: 'ifname' });
      }
      first = await create();
      if (taken(first)) {
        undo = false;
        throw new TerraceError('AlreadyExists', `pod ${w.containerId}: interface ${w.ifname} already exists in ${w.netns} (or ${hostIf} on the host)`, {
          field: 'ifname',
        });
      }
    }
    if (first.fail?.step === checkStep || first.fail?.step === createStep) undo = false;
    if (first.fail?.step === checkStep) throw podNetnsRefusal(w.netns, first.fail.code) ?? failed(`pod ${w.containerId}`, first.fail);
    if (first.fail !== undefined) throw failed(`pod ${w.containerId}: set up ${hostIf}`, first.fail);
    for (const kv of forwarding) forwardingSet.add(`${w.hostNetns ?? ''}|${kv}`);
    const index = first.index;
    if (index === undefined) throw new TerraceError('Internal', `pod ${w.containerId}: ${w.ifname} is not in ${w.netns} after creating it`);

    // Frame two: the pod end's addresses, link, gateway neighbours and default routes.
    const f = relay.frame().netns(w.netns);
    f.netlink((m, step) => {
      for (const a of w.addresses) encodeHostAddr(m, a, index, step(`addr add ${formatIP(a)}/${hostLen(a)}`), true);
      encodeLinkUp(m, w.ifname, step(`set ${w.ifname} up`), true);
      for (const fam of [4, 6] as const) {
        if (!families.has(fam)) continue;
        const gw = GATEWAY[fam];
        encodePermanentNeigh(m, gw, macs.host, index, step(`neigh replace ${formatIP(gw)}`), true);
        encodeDefaultRoute(m, gw, index, step(`route replace default via ${formatIP(gw)}`), true);
      }
    });
    const fail = (await relay.run(f)).failures[0];
    if (fail !== undefined) throw failed(`pod ${w.containerId}: configure ${w.ifname} in ${w.netns}`, fail);
  } catch (e) {
    if (undo) await deleteHostEnd(relay, w.hostNetns, hostIf).catch(() => false);
    throw e;
  }
  return {
    hostIfname: hostIf,
    hostMac: macs.host,
    podIfname: w.ifname,
    podMac: macs.pod,
    sandbox: w.netns,
    mtu: w.mtu,
    addresses: w.addresses.map((a) => `${formatIP(a)}/${hostLen(a)}`),
  };
}

/**
 * Removes a pod interface's wiring; needs no pod namespace (deleting the
 * host end deletes the pod end and every route through it). Returns whether
 * there was anything to remove. Idempotent.
 */
export async function removePod(ref: PodInterfaceRef): Promise<boolean> {
  checkRef(ref);
  return deleteHostEnd(ref.relay ?? sharedLinkRelay(), ref.hostNetns, hostVethName(ref.containerId, ref.ifname));
}

interface JsonLink {
  ifname?: string;
  flags?: string[];
  mtu?: number;
  address?: string;
}
interface JsonAddr extends JsonLink {
  addr_info?: Array<{ local?: string; prefixlen?: number }>;
}
interface JsonRoute {
  dst?: string;
  gateway?: string;
  dev?: string;
  protocol?: string | number;
}

function parseJson<T>(what: string, s: string): T[] {
  try {
    const v: unknown = JSON.parse(s === '' ? '[]' : s);
    return Array.isArray(v) ? (v as T[]) : [];
  } catch {
    throw new TerraceError('Internal', `${what}: ip printed something that is not JSON`);
  }
}

async function readJson<T>(what: string, netns: string | undefined, argv: readonly string[]): Promise<T[] | undefined> {
  const r = await runIn(netns, argv);
  if (r.code !== 0) {
    if (/does not exist|Cannot find device/.test(r.stderr)) return undefined;
    throw new TerraceError('Internal', `${what}: ${r.stderr || `exit ${r.code}`}`);
  }
  return parseJson<T>(what, r.stdout);
}

function sameIP(a: string | undefined, b: IPAddr): boolean {
  return a !== undefined && a.toLowerCase() === formatIP(b);
}

/**
 * Verifies a pod's wiring and returns what is wrong, one line per problem
 * (empty when everything is in place).
 */
export async function checkPod(w: PodWiring): Promise<string[]> {
  checkWiring(w);
  const ip = w.ipCommand ?? DEFAULT_IP_COMMAND;
  const hostIf = hostVethName(w.containerId, w.ifname);
  const problems: string[] = [];

  const hostLink = await readJson<JsonLink>('read host link', w.hostNetns, [ip, '-j', 'link', 'show', 'dev', hostIf]);
  if (!hostLink?.[0]) {
    problems.push(`host interface ${hostIf} is missing`);
  } else {
    if (!hostLink[0].flags?.includes('UP')) problems.push(`host interface ${hostIf} is down`);
    if (hostLink[0].mtu !== w.mtu) problems.push(`host interface ${hostIf} has mtu ${String(hostLink[0].mtu)}, want ${w.mtu}`);
    for (const fam of [4, 6] as const) {
      const mine = w.addresses.filter((a) => a.family === fam);
      if (mine.length === 0) continue;
      const routes = (await readJson<JsonRoute>('read host routes', w.hostNetns, [ip, '-j', `-${fam}`, 'route', 'show', 'dev', hostIf, 'proto', String(ROUTE_PROTOCOL)])) ?? [];
      for (const a of mine) {
        if (!routes.some((r) => sameIP(r.dst, a) || r.dst === `${formatIP(a)}/${hostLen(a)}`)) {
          problems.push(`host route ${formatIP(a)}/${hostLen(a)} dev ${hostIf} proto ${ROUTE_PROTOCOL} is missing`);
        }
      }
    }
    const key = w.addresses.some((a) => a.family === 4) ? `net.ipv4.conf.${hostIf}.proxy_arp` : `net.ipv6.conf.${hostIf}.proxy_ndp`;
    const r = await runIn(w.hostNetns, ['sysctl', '-n', key]);
    if (r.code !== 0 || r.stdout.trim() !== '1') problems.push(`${key} is not 1`);
  }

  const podAddr = await readJson<JsonAddr>('read pod addresses', w.netns, [ip, '-j', 'addr', 'show', 'dev', w.ifname]);
  if (!podAddr?.[0]) {
    problems.push(`pod interface ${w.ifname} is missing in ${w.netns}`);
    return problems;
  }
  if (!podAddr[0].flags?.includes('UP')) problems.push(`pod interface ${w.ifname} is down`);
  for (const a of w.addresses) {
    const has = podAddr[0].addr_info?.some((i) => sameIP(i.local, a) && i.prefixlen === hostLen(a));
    if (!has) problems.push(`pod interface ${w.ifname} lacks ${formatIP(a)}/${hostLen(a)}`);
  }
  for (const fam of [4, 6] as const) {
    if (!w.addresses.some((a) => a.family === fam)) continue;
    const gw = fam === 4 ? POD_GATEWAY_V4 : POD_GATEWAY_V6;
    const routes = (await readJson<JsonRoute>('read pod routes', w.netns, [ip, '-j', `-${fam}`, 'route', 'show', 'default'])) ?? [];
    if (!routes.some((r) => r.gateway === gw && r.dev === w.ifname)) problems.push(`pod default route via ${gw} dev ${w.ifname} is missing`);
  }
  return problems;
}
