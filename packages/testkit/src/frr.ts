/**
 * FRR as a lab router (e.g. a top-of-rack switch): zebra and bgpd started by
 * hand inside a namespace, as the `frr` user (FRR refuses `-u root`: its vty
 * group check fails), with private run and config directories so several
 * routers and the host's own FRR never share a socket.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Daemon } from './daemons.js';
import { onProcessExit, waitFor } from './daemons.js';
import type { Lab } from './netns.js';

export interface FrrNeighbor {
  address: string;
  asn: number;
  password?: string;
  /** Seconds; default 1 / 3 for fast tests. */
  keepalive?: number;
  hold?: number;
  description?: string;
}

export interface FrrBgpConfig {
  hostname?: string;
  asn: number;
  routerId: string;
  neighbors: readonly FrrNeighbor[];
  /** Prefixes this router originates (needs a matching route only without import-check; we disable it). */
  networks?: readonly string[];
  /** ECMP width (default 8); with multipath-relax, equal paths from different ASes qualify. */
  maximumPaths?: number;
  /** TCP port bgpd listens on (default 179). */
  listenPort?: number;
}

/** Renders bgpd.conf for a plain eBGP router that accepts and sends everything. */
export function renderBgpdConfig(c: FrrBgpConfig): string {
  const lines: string[] = [];
  lines.push('frr defaults traditional');
  lines.push(`hostname ${c.hostname ?? 'tor'}`);
  lines.push('log stdout');
  lines.push('!');
  lines.push(`router bgp ${c.asn}`);
  lines.push(` bgp router-id ${c.routerId}`);
  // Without this, eBGP sessions neither accept nor send routes unless a policy is set.
  lines.push(' no bgp ebgp-requires-policy');
  lines.push(' no bgp network import-check');
  lines.push(' bgp bestpath as-path multipath-relax');
  for (const n of c.neighbors) {
    lines.push(` neighbor ${n.address} remote-as ${n.asn}`);
    lines.push(` neighbor ${n.address} timers ${n.keepalive ?? 1} ${n.hold ?? 3}`);
    lines.push(` neighbor ${n.address} timers connect 1`);
    if (n.password) lines.push(` neighbor ${n.address} password ${n.password}`);
    if (n.description) lines.push(` neighbor ${n.address} description ${n.description}`);
  }
  const families = new Set(c.neighbors.map((n) => (n.address.includes(':') ? 6 : 4)));
  for (const fam of [4, 6] as const) {
    const nets = (c.networks ?? []).filter((p) => (p.includes(':') ? 6 : 4) === fam);
    if (!families.has(fam) && nets.length === 0) continue;
    lines.push(` address-family ipv${fam} unicast`);
    lines.push(`  maximum-paths ${c.maximumPaths ?? 8}`);
    for (const p of nets) lines.push(`  network ${p}`);
    if (fam === 6) {
      for (const n of c.neighbors.filter((x) => x.address.includes(':'))) lines.push(`  neighbor ${n.address} activate`);
    }
    lines.push(' exit-address-family');
  }
  lines.push('!');
  return `${lines.join('\n')}\n`;
}

export interface FrrRouter {
  ns: string;
  dir: string;
  zebra: Daemon;
  bgpd: Daemon;
  /** Runs `vtysh -c CMD` against this router's daemons. */
  vtysh(cmd: string): Promise<string>;
  /** `show bgp ipv4|ipv6 unicast json`, parsed: prefix → paths. */
  bgpRoutes(family?: 4 | 6): Promise<Record<string, FrrBgpPath[]>>;
  /** `show bgp summary json` peers, parsed: address → state and prefix counts. */
  neighbors(family?: 4 | 6): Promise<Record<string, { state: string; pfxRcd?: number; pfxSnt?: number }>>;
  /** Kernel routes in the router's namespace (`ip -j route show proto bgp`). */
  kernelRoutes(family?: 4 | 6): Promise<KernelRoute[]>;
  stop(): Promise<void>;
}

export interface FrrBgpPath {
  valid?: boolean;
  bestpath?: boolean;
  multipath?: boolean;
  nexthops?: { ip: string }[];
  peerId?: string;
}

export interface KernelRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  nexthops?: { gateway?: string; dev?: string }[];
}

function frrIds(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'frr']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'frr']).toString().trim());
  return { uid, gid };
}

const FRR_BIN = '/usr/lib/frr';

/** Starts zebra and bgpd in `ns` with `config`, waits until vtysh answers. */
export async function startFrr(lab: Lab, ns: string, config: FrrBgpConfig | string): Promise<FrrRouter> {
  const dir = mkdtempSync(join(tmpdir(), 'terrace-frr-'));
  const { uid, gid } = frrIds();
  chownSync(dir, uid, gid);
  chmodSync(dir, 0o770);
  const bgpConf = join(dir, 'bgpd.conf');
  const zebraConf = join(dir, 'zebra.conf');
  writeFileSync(bgpConf, typeof config === 'string' ? config : renderBgpdConfig(config));
  writeFileSync(zebraConf, 'hostname zebra\nlog stdout\n');
  writeFileSync(join(dir, 'vtysh.conf'), '');
  for (const f of [bgpConf, zebraConf, join(dir, 'vtysh.conf')]) chownSync(f, uid, gid);
  const zsock = join(dir, 'zserv.api');
  const common = ['-u', 'frr', '-g', 'frr', '--vty_socket', dir, '-z', zsock, '-A', '127.0.0.1', '-P', '0'];
  const zebra = lab.startDaemon(ns, {
    name: `zebra@${ns}`,
    command: `${FRR_BIN}/zebra`,
    args: ['-f', zebraConf, '-i', join(dir, 'zebra.pid'), ...common],
  });
  // Removed by stop(), or on the way out if the caller never gets there.
  const removeHook = onProcessExit(() => rmSync(dir, { recursive: true, force: true }));
  const cleanupDir = (): void => {
    rmSync(dir, { recursive: true, force: true });
    removeHook();
  };
  try {
    await waitFor(`zebra in ${ns}`, () => {
      if (!zebra.running()) throw new Error(`zebra exited: ${zebra.output()}`);
      try {
        execFileSync('test', ['-S', zsock]);
        return true;
      } catch {
        return false;
      }
    }, 10000, 50);
  } catch (e) {
    await zebra.stop();
    cleanupDir();
    throw e;
  }
  const port = typeof config === 'string' ? 179 : (config.listenPort ?? 179);
  const bgpd = lab.startDaemon(ns, {
    name: `bgpd@${ns}`,
    command: `${FRR_BIN}/bgpd`,
    args: ['-f', bgpConf, '-i', join(dir, 'bgpd.pid'), '-p', String(port), ...common],
  });
  const vtysh = async (cmd: string): Promise<string> => {
    const { stdout } = await lab.exec(ns, 'vtysh', ['--vty_socket', dir, '-c', cmd], { timeoutMs: 20000 });
    return stdout;
  };
  const router: FrrRouter = {
    ns,
    dir,
    zebra,
    bgpd,
    vtysh,
    async bgpRoutes(family = 4) {
      const out = JSON.parse(await vtysh(`show bgp ipv${family} unicast json`)) as { routes?: Record<string, FrrBgpPath[]> };
      return out.routes ?? {};
    },
    async neighbors(family = 4) {
      const out = JSON.parse(await vtysh('show bgp summary json')) as Record<
        string,
        { peers?: Record<string, { state: string; pfxRcd?: number; pfxSnt?: number }> } | undefined
      >;
      return out[`ipv${family}Unicast`]?.peers ?? {};
    },
    async kernelRoutes(family = 4) {
      const { stdout } = await lab.exec(ns, 'ip', [`-${family}`, '-j', 'route', 'show', 'proto', 'bgp']);
      return JSON.parse(stdout || '[]') as KernelRoute[];
    },
    async stop() {
      await Promise.all([bgpd.stop(), zebra.stop()]);
      cleanupDir();
    },
  };
  try {
    await waitFor(`bgpd in ${ns}`, async () => {
      if (!bgpd.running()) throw new Error(`bgpd exited: ${bgpd.output()}`);
      await vtysh('show bgp summary json');
      return true;
    }, 15000, 100);
  } catch (e) {
    await router.stop();
    throw e;
  }
  return router;
}
