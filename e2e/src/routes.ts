/**
 * Kernel routing tables of lab namespaces: one-shot reads, and a watcher that
 * follows `ip monitor route` in several namespaces at once so a measurement
 * sees a route the moment the kernel has it (polling would add its own period
 * to every figure).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { onProcessExit } from '@terrace/testkit';
import { mustRunIn } from './proc.js';

export interface RouteEntry {
  dst: string;
  type?: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  nexthops?: { gateway?: string; dev?: string }[];
}

/** IPv4 routes of the main table in `ns` (`ip -j route show`), optionally only `proto`. */
export async function routesIn(ns: string, proto?: string): Promise<RouteEntry[]> {
  const out = await mustRunIn(ns, 'ip', ['-4', '-j', 'route', 'show', ...(proto ? ['proto', proto] : [])]);
  return JSON.parse(out || '[]') as RouteEntry[];
}

const ROUTE_TYPES = new Set(['unicast', 'blackhole', 'unreachable', 'prohibit', 'local', 'broadcast', 'multicast', 'throw', 'nat', 'anycast']);

/** One line of `ip monitor route` → destination and whether it was a removal; undefined for other lines. */
export function parseMonitorLine(line: string): { dst: string; deleted: boolean } | undefined {
  if (line === '' || /^\s/.test(line)) return undefined; // multipath continuation lines
  let rest = line.trim();
  let deleted = false;
  if (rest.startsWith('Deleted ')) {
    deleted = true;
    rest = rest.slice('Deleted '.length);
  }
  const words = rest.split(/\s+/);
  let dst = words[0] ?? '';
  if (ROUTE_TYPES.has(dst)) dst = words[1] ?? '';
  if (dst === 'default') dst = '0.0.0.0/0';
  if (!/^[0-9a-f.:]+(\/\d+)?$/i.test(dst)) return undefined;
  if (!dst.includes('/')) dst += dst.includes(':') ? '/128' : '/32';
  return { dst, deleted };
}

interface Presence {
  present: boolean;
  /** performance.now() of the last change (or of the first read). */
  since: number;
}

type Waiter = () => void;

/**
 * Follows the routing tables of a set of namespaces. Only the main table's
 * IPv4 and IPv6 routes matter; `local` table entries share destinations with
 * nothing the lab measures.
 */
export class RouteWatcher {
  private readonly tables = new Map<string, Map<string, Presence>>();
  private readonly monitors = new Map<string, ChildProcessWithoutNullStreams>();
  private readonly waiters = new Set<Waiter>();
  private readonly removeHook: () => void;

  constructor() {
    this.removeHook = onProcessExit(() => {
      for (const m of this.monitors.values()) m.kill('SIGKILL');
    });
  }

  /** Starts following `ns`: the monitor first, then a full read, so no change falls between. */
  async watch(ns: string): Promise<void> {
    if (this.monitors.has(ns)) return;
    const table = new Map<string, Presence>();
    this.tables.set(ns, table);
    const mon = spawn('ip', ['-n', ns, 'monitor', 'route'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.monitors.set(ns, mon);
    createInterface({ input: mon.stdout }).on('line', (line) => {
      const at = performance.now();
      const ev = parseMonitorLine(line);
      if (!ev) return;
      table.set(ev.dst, { present: !ev.deleted, since: at });
      for (const w of [...this.waiters]) w();
    });
    // Give the monitor a moment to subscribe before the snapshot.
    await new Promise((r) => setTimeout(r, 50));
    const at = performance.now();
    for (const r of await routesIn(ns)) {
      let dst = r.dst === 'default' ? '0.0.0.0/0' : r.dst;
      if (!dst.includes('/')) dst += '/32';
      if (!table.has(dst)) table.set(dst, { present: true, since: at });
    }
  }

  /** Stops following `ns` (before its namespace is deleted). */
  unwatch(ns: string): void {
    this.monitors.get(ns)?.kill('SIGKILL');
    this.monitors.delete(ns);
    this.tables.delete(ns);
  }

  present(ns: string, dst: string): boolean {
    return this.tables.get(ns)?.get(dst)?.present ?? false;
  }

  /**
   * Resolves when `dst` is present (or absent) in every namespace of `nss`,
   * with, per namespace, the performance.now() at which it became so.
   */
  waitAll(dst: string, nss: readonly string[], want: 'present' | 'absent', timeoutMs = 20000): Promise<Map<string, number>> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const out = new Map<string, number>();
        for (const ns of nss) {
          const p = this.tables.get(ns)?.get(dst);
          const isPresent = p?.present ?? false;
          if (isPresent !== (want === 'present')) return false;
          out.set(ns, p?.since ?? 0);
        }
        this.waiters.delete(waiter);
        clearTimeout(timer);
        resolve(out);
        return true;
      };
      const waiter: Waiter = () => void check();
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const missing = nss.filter((ns) => this.present(ns, dst) !== (want === 'present'));
        reject(new Error(`route ${dst} not ${want} after ${timeoutMs} ms in ${missing.join(', ')}`));
      }, timeoutMs);
      this.waiters.add(waiter);
      check();
    });
  }

  close(): void {
    for (const ns of [...this.monitors.keys()]) this.unwatch(ns);
    this.waiters.clear();
    this.removeHook();
  }
}
