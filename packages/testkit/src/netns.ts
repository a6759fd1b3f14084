/**
 * A lab of network namespaces for tests and benchmarks: hosts are namespaces,
 * a fabric is a bridge in a namespace of its own, and hosts are wired to it
 * with veth pairs created directly inside the namespaces (`ip -n`), so the
 * root namespace's network is never touched.
 *
 * Every name carries a per-run prefix, so concurrent suites never collide,
 * and `destroy()` (also run on process exit and SIGINT/SIGTERM) stops the
 * lab's daemons by PID and deletes every namespace the lab created.
 *
 * Lab addresses come from 198.18.0.0/15 (benchmarking range, RFC 2544) and,
 * for IPv6, 2001:db8::/32 (documentation range, RFC 3849); anything else is
 * refused.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { cidrContainsIP, ipAddr, parseCidr, tryParseCidr, type Cidr } from '@terrace/api';
import { onProcessExit, startDaemon, type Daemon, type DaemonSpec } from './daemons.js';

const run = promisify(execFile);

export const LAB_V4 = parseCidr('198.18.0.0/15');
export const LAB_V6 = parseCidr('2001:db8::/32');

export interface ExecResult {
  stdout: string;
  stderr: string;
}

export interface ConnectOptions {
  /** Interface name inside the host namespace (default `eth<n>`). */
  ifname?: string;
  mtu?: number;
}

export interface Lab {
  /** The per-run prefix every namespace name starts with, e.g. `tr1a2b3-`. */
  readonly prefix: string;
  /** The full namespace name for a short name (does not create it). */
  nsName(name: string): string;
  /** Creates namespace `<prefix><name>` with loopback up; returns its full name. */
  addNamespace(name: string): Promise<string>;
  /** Creates a namespace holding one bridge `br0` (the fabric); returns the namespace's full name. */
  addBridge(name?: string): Promise<string>;
  /**
   * Wires host namespace `ns` to the bridge in `bridgeNs` with a veth pair and
   * gives the host side `addr` (CIDR form, e.g. `198.18.0.11/24`). Returns the
   * host-side interface name.
   */
  connect(ns: string, bridgeNs: string, addr: string, opts?: ConnectOptions): Promise<string>;
  /** Adds another address to an interface in a namespace. */
  addAddress(ns: string, ifname: string, addr: string): Promise<void>;
  /** Runs a command in a namespace and returns its output; throws with stderr on failure. */
  exec(ns: string, cmd: string, args?: readonly string[], opts?: { input?: string; timeoutMs?: number }): Promise<ExecResult>;
  /** Starts a daemon in a namespace, tracked by PID and stopped by destroy(). */
  startDaemon(ns: string, spec: Omit<DaemonSpec, 'netns'>): Daemon;
  /** Deletes one namespace of the lab (its daemons must be stopped first). */
  removeNamespace(ns: string): Promise<void>;
  /** Namespaces created so far (full names). */
  namespaces(): readonly string[];
  /** Stops the lab's daemons by PID and deletes every namespace it created. Idempotent. */
  destroy(): Promise<void>;
}

let labCounter = 0;

/** A prefix unique to this process and lab, short enough to leave room in names. */
function uniquePrefix(tag: string): string {
  labCounter += 1;
  return `${tag}${process.pid.toString(36)}${labCounter.toString(36)}-`;
}

function checkLabAddress(addr: string): Cidr {
  const c = tryParseCidr(addr, false);
  if (!c) throw new Error(`lab address ${addr}: not in CIDR form (e.g. 198.18.0.11/24)`);
  const range = c.family === 4 ? LAB_V4 : LAB_V6;
  if (!cidrContainsIP(range, ipAddr(c.family, c.base))) {
    throw new Error(`lab address ${addr}: outside the lab ranges 198.18.0.0/15 and 2001:db8::/32`);
  }
  return c;
}

async function ip(args: readonly string[]): Promise<void> {
  try {
    await run('ip', [...args]);
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')}: ${(err.stderr ?? err.message).trim()}`);
  }
}

export async function createLab(opts: { prefix?: string; tag?: string } = {}): Promise<Lab> {
  const prefix = opts.prefix ?? uniquePrefix(opts.tag ?? 'tr');
  const created: string[] = [];
  const daemons = new Set<Daemon>();
  const linkCount = new Map<string, number>();
  let vethCounter = 0;
  let destroyed = false;

  const destroySync = (): void => {
    if (destroyed) return;
    destroyed = true;
    for (const d of daemons) {
      try {
        process.kill(d.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const ns of created.reverse()) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  };
  const removeHook = onProcessExit(destroySync);

  const owned = (ns: string): void => {
    if (!created.includes(ns)) throw new Error(`namespace ${ns} does not belong to lab ${prefix}`);
  };

  const lab: Lab = {
    prefix,
    nsName: (name) => (name.startsWith(prefix) ? name : `${prefix}${name}`),
    async addNamespace(name) {
      if (destroyed) throw new Error(`lab ${prefix} is destroyed`);
      const ns = lab.nsName(name);
      await ip(['netns', 'add', ns]);
      created.push(ns);
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      return ns;
    },
    async addBridge(name = 'fabric') {
      const ns = await lab.addNamespace(name);
      await ip(['-n', ns, 'link', 'add', 'br0', 'type', 'bridge']);
      // A fixed MAC: by default a bridge takes the lowest MAC of its ports and
      // changes it when that port goes (a node dies), so every host's ARP entry
      // for an address on the bridge itself (the lab's etcd) goes stale for
      // seconds: long enough for the surviving agents' etcd leases to expire.
      await ip(['-n', ns, 'link', 'set', 'br0', 'address', '02:00:c6:12:00:01']);
      await ip(['-n', ns, 'link', 'set', 'br0', 'up']);
      return ns;
    },
    async connect(ns, bridgeNs, addr, o = {}) {
      owned(ns);
      owned(bridgeNs);
      const c = checkLabAddress(addr);
      const n = linkCount.get(ns) ?? 0;
      linkCount.set(ns, n + 1);
      const ifname = o.ifname ?? `eth${n}`;
      vethCounter += 1;
      const brSide = `p${vethCounter}`;
      // Both ends are created inside lab namespaces; nothing appears in the root namespace.
      await ip(['-n', bridgeNs, 'link', 'add', brSide, 'type', 'veth', 'peer', 'name', ifname, 'netns', ns]);
      await ip(['-n', bridgeNs, 'link', 'set', brSide, 'master', 'br0', 'up']);
      if (o.mtu) await ip(['-n', ns, 'link', 'set', ifname, 'mtu', String(o.mtu)]);
      const dad = c.family === 6 ? ['nodad'] : [];
      await ip(['-n', ns, 'addr', 'add', addr, 'dev', ifname, ...dad]);
      await ip(['-n', ns, 'link', 'set', ifname, 'up']);
      return ifname;
    },
    async addAddress(ns, ifname, addr) {
      owned(ns);
      const c = checkLabAddress(addr);
      await ip(['-n', ns, 'addr', 'add', addr, 'dev', ifname, ...(c.family === 6 ? ['nodad'] : [])]);
    },
    async exec(ns, cmd, args = [], o = {}) {
      owned(ns);
      return new Promise<ExecResult>((resolve, reject) => {
        const child = execFile(
          'ip',
          ['netns', 'exec', ns, cmd, ...args],
          { maxBuffer: 256 * 1024 * 1024, timeout: o.timeoutMs ?? 30000 },
          (err, stdout, stderr) => {
            if (err) {
              reject(new Error(`${ns}: ${cmd} ${args.join(' ')}: ${(stderr || err.message).trim()}`));
            } else {
              resolve({ stdout, stderr });
            }
          },
        );
        if (o.input !== undefined) child.stdin?.end(o.input);
      });
    },
    startDaemon(ns, spec) {
      owned(ns);
      const d = startDaemon({ ...spec, netns: ns });
      daemons.add(d);
      void d.exited.then(() => daemons.delete(d));
      return d;
    },
    async removeNamespace(ns) {
      owned(ns);
      await ip(['netns', 'del', ns]);
      created.splice(created.indexOf(ns), 1);
    },
    namespaces: () => [...created],
    async destroy() {
      if (destroyed) return;
      await Promise.all([...daemons].map((d) => d.stop(2000)));
      destroySync();
      removeHook();
    },
  };
  return lab;
}

/** Namespaces whose names start with `prefix` (for leak checks in tests). */
export async function listNamespaces(prefix = ''): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '' && n.startsWith(prefix));
}
