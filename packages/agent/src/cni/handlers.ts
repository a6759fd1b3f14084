/**
 * The CNI commands as the agent carries them out: IPAM by handle plus pod
 * wiring, with undo on failure. Every call arrives as the runtime made it
 * (the CNI_* variables and the network config, forwarded by the plugin) and
 * leaves as exactly what the plugin prints (server.ts does the transport).
 *
 * A retried ADD of the same attachment gets the same addresses (the handle,
 * @terrace/ipam's podHandle(network, containerID, ifname), names the
 * attachment), and DEL needs nothing but the ids. A DEL that could not finish
 * (etcd unreachable here, or the agent unreachable for the plugin) is
 * recorded and finished later (pending.ts).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { existsSync } from 'node:fs';
import { TerraceError, formatIP, isTerraceError, parseIP, type IPAddr, type PackedPrefix } from '@terrace/api';
import {
  CniCode,
  CniError,
  buildAddResult,
  cniArg,
  decodeConfig,
  detailsWithRequest,
  errorJson,
  makeRequestId,
  parseConfig,
  parseEnv,
  prevResultAddresses,
  replyVersion,
  sentRequestId,
  SUPPORTED_VERSIONS,
  type CniCommand,
  type CniEnv,
  type InvocationEnv,
  type TerraceNetConf,
} from '@terrace/cni';
import { POD_GATEWAY_V4, POD_GATEWAY_V6, checkPod, hostVethName, podHostRoutes, removePod, wirePod, type RouteSync, type UnicastRoute } from '@terrace/dataplane';
import { toCniError } from './errors.js';
import { isPodHandleOf, podHandle } from '@terrace/ipam';
import type { CniIpam } from './ipam.js';
import { tracedIpam, type CniLog } from './ipam-log.js';
import { KeyedLock } from './lock.js';
import { heldBy, optional, refuseMac, requestedAddresses } from './request.js';
import { PendingDels, type PendingDel } from './pending.js';
import { FAULT_ENV, FaultInjector, parseFault } from './fault.js';

export const DEFAULT_POD_MTU = 1500;
/** How often recorded DELs are tried again while any are left. */
const PENDING_RETRY_MS = 5000;

/** Why the node cannot take pods right now, or undefined when it can. */
export type Readiness = () => Promise<string | undefined> | string | undefined;

export interface CniHandlerOptions {
  ipam: CniIpam;
  nodeName: string;
  /** Pod MTU when the network config names none (default 1500). */
  mtu?: number;
  /** Where DELs that did not finish are recorded (the plugin's `stateDir`; default /var/lib/terrace/cni). */
  stateDir: string;
  /** STATUS: the datastore answers. */
  datastoreReady: Readiness;
  /** STATUS: the BGP speaker answers. */
  bgpReady: Readiness;
  /** The namespace holding host-side veths, as a path; default the agent's own. */
  hostNetns?: string;
  /** Told about each completed or failed command (for the agent's log). */
  onEvent?: (e: CniEvent) => void;
  /** The agent's log, for the IPAM lines of each call (ipam-log.ts); none: IPAM calls are not logged. */
  log?: CniLog;
  /**
   * Host routes to a pod that was just wired. Route sync owns every route of
   * our protocol and is their only writer; the ADD answers once this
   * resolves, i.e. once the routes are in the kernel.
   */
  onPodRoutesAdded?: (routes: UnicastRoute[]) => Promise<void> | void;
  /** Host routes that went away with a pod's veth (DEL, GC, failed ADD). */
  onPodRoutesRemoved?: (routes: UnicastRoute[]) => void;
  /** Host routes of pods wired before this process started (seeded from IPAM), so DEL can drop them without IPAM. */
  knownPodRoutes?: readonly UnicastRoute[];
}

export interface CniEvent {
  command: CniCommand | 'DEL (recorded)';
  /** The call's request id (request-id.ts in @terrace/cni). */
  req?: string | undefined;
  handle?: string;
  ok: boolean;
  ms: number;
  detail: string;
  /** The CNI error code the plugin reports, on failure. */
  code?: number;
}

/** What the plugin prints: `ok` is its exit status 0. */
export interface CniAnswer {
  ok: boolean;
  stdout: string;
}

/**
 * Pod host routes through route sync, the only writer of our protocol: an
 * ADD answers once its routes are in the kernel. The veth is always new, so
 * routes through an earlier one of the same name went with it.
 */
export function podRoutesThrough(sync: Pick<RouteSync, 'gone' | 'upsert' | 'flush' | 'remove'>): Pick<CniHandlerOptions, 'onPodRoutesAdded' | 'onPodRoutesRemoved'> {
  return {
    onPodRoutesAdded: async (routes) => {
      sync.gone(routes);
      sync.upsert(routes);
      await sync.flush();
    },
    onPodRoutesRemoved: (routes) => sync.remove(routes),
  };
}

export function handleOf(network: string, containerId: string, ifname: string): string {
  return podHandle(network, containerId, ifname);
}

/** One pod attachment, parsed once. */
interface Attachment {
  env: CniEnv;
  conf: TerraceNetConf;
  handle: string;
  /** The lock key: one interface name in one container. */
  key: string;
}

export class CniHandlers {
  private readonly lock = new KeyedLock();
  private readonly mtu: number;
  /** ADDs under way, by handle (see gc). */
  private readonly adding = new Map<string, number>();
  /** Handle → sequence number of its latest ADD; `addSeq` counts ADDs started. */
  private readonly lastAdd = new Map<string, number>();
  private addSeq = 0;
  /** Host veth → the routes through it that route sync holds for us. */
  private readonly podRoutes = new Map<string, UnicastRoute[]>();
  /** Pending-DEL folders to look in: ours, plus any other stateDir a config named. */
  private readonly pending = new Map<string, PendingDels>();
  private pendingTimer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  /** Test-only (fault.ts); undefined in production. */
  private readonly fault: FaultInjector | undefined;
  /** The request id of the call whose work is running (every await of a call keeps it). */
  private readonly calls = new AsyncLocalStorage<string>();
  private reqSeq = 0;
  /** IPAM, logging each call under the request id of the CNI call it serves. */
  private readonly ipam: CniIpam;

  constructor(private readonly o: CniHandlerOptions) {
    this.mtu = o.mtu ?? DEFAULT_POD_MTU;
    this.ipam = o.log ? tracedIpam(o.ipam, o.log, () => this.calls.getStore()) : o.ipam;
    const fault = parseFault(process.env[FAULT_ENV]);
    this.fault = fault && new FaultInjector(fault);
    this.pendingIn(o.stateDir);
    for (const r of o.knownPodRoutes ?? []) {
      const dev = r.nextHops[0]?.dev;
      if (dev !== undefined) this.podRoutes.set(dev, [...(this.podRoutes.get(dev) ?? []), r]);
    }
  }

  /** Finishes the DELs recorded while nobody could carry them out; then keeps trying while any are left. */
  async start(): Promise<void> {
    await this.drainPending();
    this.pendingTimer = setInterval(() => void this.drainPending(), PENDING_RETRY_MS);
    this.pendingTimer.unref();
  }

  stop(): void {
    if (this.pendingTimer) clearInterval(this.pendingTimer);
  }

  /** The id a call goes by: the plugin's when it sent a well-formed one, else one of the same shape made here. */
  requestId(vars: InvocationEnv, sent?: string | readonly string[]): string {
    return sentRequestId(sent) ?? makeRequestId(vars.CNI_COMMAND, vars.CNI_CONTAINERID, `a${++this.reqSeq}`);
  }

  /** Carries out one call as the runtime made it, under request id `req`. Never throws. */
  invoke(vars: InvocationEnv, stdin: Uint8Array, req: string = this.requestId(vars)): Promise<CniAnswer> {
    return this.calls.run(req, () => this.invokeAs(vars, stdin, req));
  }

  private async invokeAs(vars: InvocationEnv, stdin: Uint8Array, req: string): Promise<CniAnswer> {
    try {
      const env = parseEnv(vars);
      if (env.command === 'VERSION') {
        return { ok: true, stdout: JSON.stringify({ cniVersion: replyVersion(stdin), supportedVersions: SUPPORTED_VERSIONS }) };
      }
      const conf = parseConfig(decodeConfig(stdin), env.command);
      this.pendingIn(conf.stateDir);
      switch (env.command) {
        case 'ADD':
          return { ok: true, stdout: await this.add(this.attachment(env, conf)) };
        case 'DEL':
          await this.del(this.attachment(env, conf), { vars, stdin });
          return { ok: true, stdout: '' };
        case 'CHECK':
          await this.check(this.attachment(env, conf));
          return { ok: true, stdout: '' };
        case 'GC':
          await this.gc(conf);
          return { ok: true, stdout: '' };
        case 'STATUS':
          await this.status();
          return { ok: true, stdout: '' };
      }
    } catch (e) {
      return this.refuse(e, stdin, req);
    }
  }

  /** The answer for a call that failed before (or while) it was carried out; its details name the request. */
  refuse(e: unknown, stdin: Uint8Array = new Uint8Array(), req?: string): CniAnswer {
    const err = toCniError(e);
    const named = req === undefined ? err : new CniError(err.code, err.message, detailsWithRequest(err.details, req));
    return { ok: false, stdout: errorJson(replyVersion(stdin), named) };
  }

  private attachment(env: CniEnv, conf: TerraceNetConf): Attachment {
    return { env, conf, handle: handleOf(conf.name, env.containerId, env.ifname), key: `${env.containerId}/${env.ifname}` };
  }

  private async timed<T>(command: CniEvent['command'], handle: string | undefined, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    const ms = (): number => Math.round((performance.now() - t0) * 10) / 10;
    try {
      const r = await fn();
      this.o.onEvent?.({ command, req: this.calls.getStore(), handle, ok: true, ms: ms(), detail: '' });
      return r;
    } catch (e) {
      this.o.onEvent?.({ command, req: this.calls.getStore(), handle, ok: false, ms: ms(), detail: e instanceof Error ? e.message : String(e), code: toCniError(e).code });
      throw e;
    }
  }

  /** ADD: returns the CNI result JSON. */
  private async add(a: Attachment): Promise<string> {
    const { env, conf, handle } = a;
    const staticIps = requestedAddresses(env, conf);
    refuseMac(env, conf);
    this.addSeq += 1;
    this.lastAdd.set(handle, this.addSeq);
    this.adding.set(handle, (this.adding.get(handle) ?? 0) + 1);
    const done = (): void => {
      const n = (this.adding.get(handle) ?? 1) - 1;
      if (n > 0) this.adding.set(handle, n);
      else this.adding.delete(handle);
    };
    return this.timed('ADD', handle, () =>
      this.lock.run(a.key, async () => {
        // A DEL of the same attachment that was recorded earlier happened
        // before this ADD: carry it out first.
        await this.finishPendingFor(conf.name, env.containerId, env.ifname);
        const family = conf.ipam.assignIpv4 && conf.ipam.assignIpv6 ? 'dual' : conf.ipam.assignIpv6 ? 6 : 4;
        const pools = [...conf.ipam.ipv4Pools, ...conf.ipam.ipv6Pools];
        const alloc = await this.ipam.allocate({
          handle,
          node: this.o.nodeName,
          family,
          ...(staticIps.length > 0 ? { ip: staticIps.map(formatIP) } : {}),
          ...(pools.length > 0 ? { pools } : {}),
          attrs: {
            containerID: env.containerId,
            iface: env.ifname,
            ...optional('namespace', cniArg(env.args, 'K8S_POD_NAMESPACE')),
            ...optional('pod', cniArg(env.args, 'K8S_POD_NAME')),
          },
        });
        if (this.fault) await this.fault.reached('after-ipam', handle);
        const addresses: IPAddr[] = alloc.ips.map((x) => parseIP(x.ip));
        const mtu = conf.mtu ?? this.mtu;
        const routes = podHostRoutes(env.containerId, env.ifname, addresses);
        let wired;
        try {
          wired = await wirePod({ containerId: env.containerId, ifname: env.ifname, netns: env.netns, addresses, mtu, ...this.hostNs() });
        } catch (e) {
          // wirePod has undone its own work; give the addresses back so a
          // failed ADD leaves nothing behind.
          await this.ipam.release({ handle }).catch(() => undefined);
          throw e;
        }
        if (this.fault) await this.fault.reached('after-wire', handle);
        this.podRoutes.set(wired.hostIfname, routes);
        await this.o.onPodRoutesAdded?.(routes);
        const result = buildAddResult({
          cniVersion: conf.cniVersion,
          host: { name: wired.hostIfname, mac: wired.hostMac, mtu },
          pod: { name: wired.podIfname, mac: wired.podMac, sandbox: wired.sandbox, mtu },
          ips: addresses.map((ip, i) => ({
            address: wired.addresses[i] ?? `${formatIP(ip)}/${ip.family === 4 ? 32 : 128}`,
            family: ip.family,
            gateway: ip.family === 4 ? POD_GATEWAY_V4 : POD_GATEWAY_V6,
          })),
        });
        return JSON.stringify(result);
      }),
    ).finally(done);
  }

  /**
   * DEL: unwire, then release. Idempotent; needs no namespace. When etcd
   * cannot take the release, the DEL is recorded (unless it came from the
   * record) and answered 11: a runtime that retries gets it done, one that
   * does not leaks nothing either.
   */
  private async del(a: Attachment, call: { vars: InvocationEnv; stdin: Uint8Array } | { from: PendingDel }): Promise<void> {
    const { env, handle } = a;
    await this.timed('from' in call ? 'DEL (recorded)' : 'DEL', handle, () =>
      this.lock.run(a.key, async () => {
        // A recorded DEL that an ADD of the same attachment carried out while
        // we waited for the lock is done: doing it again would undo that ADD.
        if ('from' in call && !existsSync(call.from.path)) return;
        // Unwire first: an address must not be handed out while a veth still routes to it.
        await removePod({ containerId: env.containerId, ifname: env.ifname, ...this.hostNs() });
        const dev = hostVethName(env.containerId, env.ifname);
        const known = this.podRoutes.get(dev);
        this.podRoutes.delete(dev);
        if (known) this.o.onPodRoutesRemoved?.(known);
        let released;
        try {
          released = await this.ipam.releasePod({ network: a.conf.name, containerId: env.containerId, ifname: env.ifname });
        } catch (e) {
          if (!isTerraceError(e, 'Unavailable') || 'from' in call) throw e;
          await this.pendingIn(a.conf.stateDir).record(call.vars, call.stdin);
          throw new TerraceError('Unavailable', `${e.message}; the DEL of ${handle} is recorded and will be completed when etcd answers again`, { cause: e });
        }
        this.removedRoutes(env.containerId, env.ifname, released);
        if (!this.adding.has(handle)) this.lastAdd.delete(handle);
      }),
    );
  }

  /** CHECK: the allocation still belongs to this interface and the wiring is intact. */
  private async check(a: Attachment): Promise<void> {
    const { env, conf, handle } = a;
    await this.timed('CHECK', handle, () =>
      this.lock.run(a.key, async () => {
        const prev = prevResultAddresses(conf.prevResult);
        if (!prev || prev.length === 0) throw new CniError(CniCode.InvalidConfig, 'network config: CHECK needs a prevResult with ips');
        const addresses = prev.map((p) => parseIP(p.split('/')[0] ?? ''));
        const problems: string[] = [];
        for (const ip of addresses) {
          const owner = await this.ipam.lookup(formatIP(ip));
          if (!owner) problems.push(`${formatIP(ip)} is not allocated`);
          else if (!heldBy(owner, handle, { network: conf.name, containerId: env.containerId, ifname: env.ifname })) {
            problems.push(`${formatIP(ip)} is allocated to ${owner.handle}, not ${handle}`);
          }
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
  private async gc(conf: TerraceNetConf): Promise<string[]> {
    const seqAtStart = this.addSeq;
    const busyAtStart = new Set(this.adding.keys());
    const fresh = (handle: string): boolean => busyAtStart.has(handle) || (this.lastAdd.get(handle) ?? 0) > seqAtStart;
    return this.timed('GC', undefined, async () => {
      const keep = new Set(conf.validAttachments.map((v) => handleOf(conf.name, v.containerId, v.ifname)));
      const stale = new Map<string, { containerId: string; ifname: string }>();
      for (const a of await this.ipam.nodeAllocations(this.o.nodeName)) {
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
          this.podRoutes.delete(hostVethName(att.containerId, att.ifname));
          this.removedRoutes(att.containerId, att.ifname, await this.ipam.releasePod({ network: conf.name, ...att }));
          if (!this.adding.has(handle)) this.lastAdd.delete(handle);
          return true;
        });
        if (gone) released.push(handle);
      }
      return released;
    });
  }

  /** STATUS: ready only when the datastore answers and the BGP speaker does. */
  private async status(): Promise<void> {
    const ds = await this.o.datastoreReady();
    if (ds !== undefined) throw new CniError(CniCode.NotAvailable, `terrace: etcd not reachable: ${ds}`);
    const bgp = await this.o.bgpReady();
    if (bgp !== undefined) throw new CniError(CniCode.NotAvailable, `terrace: BGP speaker not answering: ${bgp}`);
  }

  private pendingIn(stateDir: string): PendingDels {
    let p = this.pending.get(stateDir);
    if (!p) {
      p = new PendingDels(stateDir);
      this.pending.set(stateDir, p);
    }
    return p;
  }

  /** Carries out every recorded DEL that can be done now; one drain at a time. */
  drainPending(): Promise<void> {
    this.draining ??= (async () => {
      for (const store of this.pending.values()) {
        for (const p of await store.list((path, why) => this.o.onEvent?.({ command: 'DEL (recorded)', ok: false, ms: 0, detail: `${path}: ${why}` }))) {
          if (!(await this.finishPending(store, p))) return; // etcd still away: try again later
        }
      }
    })()
      .catch((e: unknown) => {
        this.o.onEvent?.({ command: 'DEL (recorded)', ok: false, ms: 0, detail: `cannot read recorded DELs: ${(e as Error).message}` });
      })
      .finally(() => {
        this.draining = undefined;
      });
    return this.draining;
  }

  /** Before an ADD: the recorded DELs of the same attachment, in order. */
  private async finishPendingFor(network: string, containerId: string, ifname: string): Promise<void> {
    for (const store of this.pending.values()) {
      for (const p of await store.list()) {
        if (p.env.CNI_CONTAINERID !== containerId || p.env.CNI_IFNAME !== ifname) continue;
        const a = this.pendingAttachment(p);
        if (a === undefined || a.conf.name !== network) continue;
        // Already under this attachment's lock: release directly.
        await removePod({ containerId, ifname, ...this.hostNs() });
        this.removedRoutes(containerId, ifname, await this.ipam.releasePod({ network, containerId, ifname }));
        await store.done(p);
      }
    }
  }

  /** Returns false when etcd is still unreachable (the record stays). */
  private async finishPending(store: PendingDels, p: PendingDel): Promise<boolean> {
    const a = this.pendingAttachment(p);
    if (a === undefined) {
      await store.done(p);
      return true;
    }
    try {
      // A call of its own: the recorded DEL gets a request id like any other.
      await this.calls.run(this.requestId(p.env), () => this.del(a, { from: p }));
    } catch (e) {
      if (isTerraceError(e, 'Unavailable')) return false;
      // Anything else will not get better by waiting: logged (by timed) and dropped.
    }
    await store.done(p);
    return true;
  }

  private pendingAttachment(p: PendingDel): Attachment | undefined {
    try {
      const env = parseEnv(p.env);
      return this.attachment(env, parseConfig(decodeConfig(p.config), 'DEL'));
    } catch (e) {
      this.o.onEvent?.({ command: 'DEL (recorded)', ok: false, ms: 0, detail: `${p.path}: dropped: ${(e as Error).message}` });
      return undefined;
    }
  }

  /**
   * The host routes of addresses just released. An address may already be
   * wired to another pod (released, allocated and wired while this call
   * awaited etcd): its route now goes through that pod's veth and stays.
   * Safe without a lock: a pod's entry in podRoutes and its upsert into
   * route sync happen in the same turn of the event loop.
   */
  private removedRoutes(containerId: string, ifname: string, released: ReadonlyArray<{ ip: string }>): void {
    const dev = hostVethName(containerId, ifname);
    const claimed = new Set<PackedPrefix>();
    for (const [other, routes] of this.podRoutes) if (other !== dev) for (const r of routes) claimed.add(r.dst);
    const gone = podHostRoutes(containerId, ifname, released.map((r) => parseIP(r.ip))).filter((r) => !claimed.has(r.dst));
    if (gone.length > 0) this.o.onPodRoutesRemoved?.(gone);
  }

  private hostNs(): { hostNetns?: string } {
    return this.o.hostNetns === undefined ? {} : { hostNetns: this.o.hostNetns };
  }
}
