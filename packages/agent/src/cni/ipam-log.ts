/**
 * IPAM as the CNI handlers see it, with a log line for every call that
 * changes or reads allocations, each carrying the request id of the CNI call
 * it serves: what was allocated or released for which handle, how long etcd
 * took, and why it failed. Lookups and GC listings are debug lines.
 */
import type { CniIpam } from './ipam.js';

export type CniLogLevel = 'info' | 'warn' | 'debug';
/** Where the agent's CNI lines go (the daemon's logger). */
export type CniLog = (level: CniLogLevel, message: string, fields: Record<string, unknown>) => void;

export function tracedIpam(ipam: CniIpam, log: CniLog, req: () => string | undefined): CniIpam {
  const traced = async <T>(what: string, level: CniLogLevel, fields: Record<string, unknown>, call: () => Promise<T>, outcome: (r: T) => Record<string, unknown>): Promise<T> => {
    const t0 = performance.now();
    const ms = (): number => Math.round((performance.now() - t0) * 10) / 10;
    try {
      const r = await call();
      log(level, `ipam ${what}`, { req: req(), ...fields, ...outcome(r), ms: ms() });
      return r;
    } catch (e) {
      log('warn', `ipam ${what} failed`, { req: req(), ...fields, ms: ms(), error: (e as Error).message });
      throw e;
    }
  };
  return {
    allocate: (r) => traced('allocate', 'info', { handle: r.handle, ...(r.pools ? { pools: r.pools } : {}) }, () => ipam.allocate(r), (a) => ({ ips: a.ips.map((x) => x.ip) })),
    release: (r) => traced('release', 'info', { handle: r.handle }, () => ipam.release(r), (ips) => ({ ips: ips.map((x) => x.ip) })),
    releasePod: (pod) => traced('release', 'info', { pod: `${pod.network}/${pod.containerId}/${pod.ifname}` }, () => ipam.releasePod(pod), (ips) => ({ ips: ips.map((x) => x.ip) })),
    lookup: (ip) => traced('lookup', 'debug', { ip }, () => ipam.lookup(ip), (o) => ({ holder: o?.handle ?? 'free' })),
    nodeAllocations: (node) => traced('node allocations', 'debug', { node }, () => ipam.nodeAllocations(node), (l) => ({ count: l.length })),
  };
}
