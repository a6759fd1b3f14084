/**
 * The CNI commands as the agent carries them out: IPAM by handle plus pod
 * wiring, with undo on failure. Independent of gRPC (server.ts adapts).
 *
 * The handle of a pod interface is @terrace/ipam's podHandle(network,
 * containerID, ifname), so a retried ADD gets the same addresses and DEL
 * needs nothing but the ids.
 */
import { formatIP, parseIP, type IPAddr } from '@terrace/api';
import {
  CniCode,
  CniError,
  buildAddResult,
  cniArg,
  decodeConfig,
  parseConfig,
  parseEnv,
  prevResultAddresses,
  type CniCommand,
  type CniEnv,
  type TerraceNetConf,
} from '@terrace/cni';
import { POD_GATEWAY_V4, POD_GATEWAY_V6, checkPod, podHostRoutes, removePod, wirePod, type UnicastRoute } from '@terrace/dataplane';
import { isPodHandleOf, podHandle } from '@terrace/ipam';
import type { CniIpam } from './ipam.js';
import { KeyedLock } from './lock.js';

export const DEFAULT_POD_MTU = 1500;

/** Why the node cannot take pods right now, or undefined when it can. */
export type Readiness = () => Promise<string | undefined> | string | undefined;

export interface CniHandlerOptions {
  ipam: CniIpam;
  nodeName: string;
  /** Pod MTU when the network config names none (default 1500). */
  mtu?: number;
  /** STATUS: the datastore answers. */
  datastoreReady: Readiness;
  /** STATUS: BGP sessions are up (the agent decides what "up" means). */
  bgpReady: Readiness;
  /** The namespace holding host-side veths, as a path; default the agent's own. */
  hostNetns?: string;
  /** Told about each completed or failed command (for the agent's log). */
  onEvent?: (e: CniEvent) => void;
  /**
   * Host routes to a pod that was just wired (already in the kernel). The
   * agent adds them to RouteSync's desired set, which owns our protocol.
   */
  onPodRoutesAdded?: (routes: UnicastRoute[]) => void;
  /** Host routes that went away with a pod's veth (DEL, GC, failed ADD). */
  onPodRoutesRemoved?: (routes: UnicastRoute[]) => void;
}

export interface CniEvent {
  command: CniCommand;
  handle?: string;
  ok: boolean;
  ms: number;
  detail: string;
}

/** What the runtime sent, as the plugin forwarded it. */
export interface CniCall {
  command: string;
  containerId: string;
  netns: string;
  ifname: string;
  args: Array<{ key: string; value: string }>;
  config: Uint8Array;
}

export function handleOf(network: string, containerId: string, ifname: string): string {
  return podHandle(network, containerId, ifname);
}

export class CniHandlers {
  private readonly lock = new KeyedLock();
  private readonly mtu: number;
  /** ADDs under way, by handle (see gc). */
  private readonly adding = new Map<string, number>();
  /** Handle → sequence number of its latest ADD; `addSeq` counts ADDs started. */
  private readonly lastAdd = new Map<string, number>();
  private addSeq = 0;

  constructor(private readonly o: CniHandlerOptions) {
    this.mtu = o.mtu ?? DEFAULT_POD_MTU;
  }

  /** Re-checks the request with the plugin's own rules: the socket is trusted, the input is not. */
  private parse(call: CniCall, command: 'ADD' | 'DEL' | 'CHECK'): { env: CniEnv; conf: TerraceNetConf; handle: string } {
    if (call.command !== command) throw new CniError(CniCode.InvalidEnvironment, `CNI_COMMAND ${call.command} sent to ${command}`);
    const env = parseEnv({
      CNI_COMMAND: command,
      CNI_CONTAINERID: call.containerId,
      CNI_NETNS: call.netns,
      CNI_IFNAME: call.ifname,
    });
    env.args = call.args.map((a) => [a.key, a.value]);
    const conf = parseConfig(decodeConfig(call.config), command);
    return { env, conf, handle: handleOf(conf.name, env.containerId, env.ifname) };
  }

  private async timed<T>(command: CniCommand, handle: string | undefined, fn: () => Promise<T>): Promise<T> {
    const t0 = Date.now();
    try {
      const r = await fn();
      this.o.onEvent?.({ command, handle, ok: true, ms: Date.now() - t0, detail: '' });
      return r;
    } catch (e) {
      this.o.onEvent?.({ command, handle, ok: false, ms: Date.now() - t0, detail: e instanceof Error ? e.message : String(e) });
      throw e;
    }
  }

  /** ADD: returns the CNI result JSON. */
  async add(call: CniCall): Promise<string> {
    const { env, conf, handle } = this.parse(call, 'ADD');
    this.addSeq += 1;
    this.lastAdd.set(handle, this.addSeq);
    this.adding.set(handle, (this.adding.get(handle) ?? 0) + 1);
    const done = (): void => {
      const n = (this.adding.get(handle) ?? 1) - 1;
      if (n > 0) this.adding.set(handle, n);
      else this.adding.delete(handle);
    };
    return this.timed('ADD', handle, () =>
      this.lock.run(`${env.containerId}/${env.ifname}`, async () => {
        const family = conf.ipam.assignIpv4 && conf.ipam.assignIpv6 ? 'dual' : conf.ipam.assignIpv6 ? 6 : 4;
        const pools = [...conf.ipam.ipv4Pools, ...conf.ipam.ipv6Pools];
        const alloc = await this.o.ipam.allocate({
          handle,
          node: this.o.nodeName,
          family,
          ...(pools.length > 0 ? { pools } : {}),
          attrs: {
            containerID: env.containerId,
            iface: env.ifname,
            ...optional('namespace', cniArg(env.args, 'K8S_POD_NAMESPACE')),
            ...optional('pod', cniArg(env.args, 'K8S_POD_NAME')),
          },
        });
        const addresses: IPAddr[] = alloc.ips.map((x) => parseIP(x.ip));
        const mtu = conf.mtu ?? this.mtu;
        const routes = podHostRoutes(env.containerId, env.ifname, addresses);
        let wired;
        try {
          wired = await wirePod({ containerId: env.containerId, ifname: env.ifname, netns: env.netns, addresses, mtu, ...this.hostNs() });
        } catch (e) {
          // wirePod has undone its own work; give the addresses back so a
          // failed ADD leaves nothing behind.
          await this.o.ipam.release({ handle }).catch(() => undefined);
          this.o.onPodRoutesRemoved?.(routes);
          throw e;
        }
        this.o.onPodRoutesAdded?.(routes);
        const result = buildAddResult({
          cniVersion: conf.cniVersion,
          host: { name: wired.hostIfname, mac: wired.hostMac, mtu },
          pod: { name: wired.podIfname, mac: wired.podMac, sandbox: wired.sandbox, mtu },
          ips: addresses.map((a, i) => ({
            address: wired.addresses[i] ?? `${formatIP(a)}/${a.family === 4 ? 32 : 128}`,
            family: a.family,
            gateway: a.family === 4 ? POD_GATEWAY_V4 : POD_GATEWAY_V6,
          })),
        });
        return JSON.stringify(result);
      }),
    ).finally(done);
  }

  /** DEL: unwire, then release. Idempotent; needs no namespace. */
  async del(call: CniCall): Promise<void> {
    const { env, conf, handle } = this.parse(call, 'DEL');
    await this.timed('DEL', handle, () =>
      this.lock.run(`${env.containerId}/${env.ifname}`, async () => {
        // Unwire first: an address must not be handed out while a veth still routes to it.
        await removePod({ containerId: env.containerId, ifname: env.ifname, ...this.hostNs() });
        const released = await this.o.ipam.releasePod({ network: conf.name, containerId: env.containerId, ifname: env.ifname });
        this.removedRoutes(env.containerId, env.ifname, released);
        if (!this.adding.has(handle)) this.lastAdd.delete(handle);
      }),
    );
  }

  /** CHECK: the allocation still belongs to this interface and the wiring is intact. */
  async check(call: CniCall): Promise<void> {
    const { env, conf, handle } = this.parse(call, 'CHECK');
    await this.timed('CHECK', handle, () =>
      this.lock.run(`${env.containerId}/${env.ifname}`, async () => {
        const prev = prevResultAddresses(conf.prevResult);
        if (!prev || prev.length === 0) throw new CniError(CniCode.InvalidConfig, 'network config: CHECK needs a prevResult with ips');
        const addresses = prev.map((p) => parseIP(p.split('/')[0] ?? ''));
        const problems: string[] = [];
        for (const a of addresses) {
          const owner = await this.o.ipam.lookup(formatIP(a));
          if (!owner) problems.push(`${formatIP(a)} is not allocated`);
          else if (owner.handle !== handle) problems.push(`${formatIP(a)} is allocated to ${owner.handle}, not ${handle}`);
        }
        problems.push(
          ...(await checkPod({ containerId: env.containerId, ifname: env.ifname, netns: env.netns, addresses, mtu: conf.mtu ?? this.mtu, ...this.hostNs() })),
        );
        if (problems.length > 0) throw new CniError(CniCode.CheckFailed, `CHECK ${handle}: ${problems[0] ?? ''}`, problems.join('; '));
      }),
    );
  }

  /**
   * GC: release every address this node holds for this network whose
   * attachment the runtime no longer lists, and remove its veth. An
   * attachment whose ADD was under way when GC began, or started since, is
   * left alone even if the list omits it: the list may predate it, and
   * undoing a fresh ADD would break a pod the runtime believes is wired (a
   * truly stale one goes at the next GC).
   */
  async gc(config: Uint8Array, valid: Array<{ containerId: string; ifname: string }>): Promise<string[]> {
    const conf = parseConfig(decodeConfig(config), 'GC');
    const seqAtStart = this.addSeq;
    const busyAtStart = new Set(this.adding.keys());
    const fresh = (handle: string): boolean => busyAtStart.has(handle) || (this.lastAdd.get(handle) ?? 0) > seqAtStart;
    return this.timed('GC', undefined, async () => {
      const keep = new Set(valid.map((v) => handleOf(conf.name, v.containerId, v.ifname)));
      const stale = new Map<string, { containerId: string; ifname: string }>();
      for (const a of await this.o.ipam.nodeAllocations(this.o.nodeName)) {
        if (a.containerID === undefined || a.iface === undefined) continue;
        // Only this network's handles: rebuild the handle from the attributes
        // rather than splitting it, since names may contain dots.
        if (!isPodHandleOf(a.handle, { network: conf.name, containerId: a.containerID, ifname: a.iface })) continue;
        const handle = handleOf(conf.name, a.containerID, a.iface);
        if (keep.has(handle)) continue;
        stale.set(handle, { containerId: a.containerID, ifname: a.iface });
      }
      const released: string[] = [];
      for (const [handle, att] of stale) {
        if (fresh(handle)) continue;
        const gone = await this.lock.run(`${att.containerId}/${att.ifname}`, async () => {
          // Checked again under the lock: an ADD may have started while we listed.
          if (fresh(handle)) return false;
          await removePod({ ...att, ...this.hostNs() });
          this.removedRoutes(att.containerId, att.ifname, await this.o.ipam.releasePod({ network: conf.name, ...att }));
          if (!this.adding.has(handle)) this.lastAdd.delete(handle);
          return true;
        });
        if (gone) released.push(handle);
      }
      return released;
    });
  }

  /** STATUS: ready only when the datastore answers and BGP is up. */
  async status(config: Uint8Array): Promise<void> {
    parseConfig(decodeConfig(config), 'STATUS');
    const ds = await this.o.datastoreReady();
    if (ds !== undefined) throw new CniError(CniCode.NotAvailable, `terrace: datastore not reachable: ${ds}`);
    const bgp = await this.o.bgpReady();
    if (bgp !== undefined) throw new CniError(CniCode.NotAvailable, `terrace: BGP not up: ${bgp}`);
  }

  private removedRoutes(containerId: string, ifname: string, released: ReadonlyArray<{ ip: string }>): void {
    if (released.length > 0) this.o.onPodRoutesRemoved?.(podHostRoutes(containerId, ifname, released.map((r) => parseIP(r.ip))));
  }

  private hostNs(): { hostNetns?: string } {
    return this.o.hostNetns === undefined ? {} : { hostNetns: this.o.hostNetns };
  }
}

function optional<K extends string>(key: K, v: string | undefined): Partial<Record<K, string>> {
  return v === undefined || v === '' ? {} : ({ [key]: v } as Record<K, string>);
}
