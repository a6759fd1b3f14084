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
  /**
   * BFD on this session: startFrr runs bfdd beside zebra and bgpd, and the
   * neighbor uses a profile with these timers (e.g. 100 ms × 3: a dead peer is
   * noticed in about 300 ms instead of after the hold time).
   */
  bfd?: FrrBfd;
  /** This router reflects routes to the neighbor (an iBGP route reflector client). */
  routeReflectorClient?: boolean;
}

export interface FrrBfd {
  /** Transmit and receive interval, ms. */
  intervalMs: number;
  /** Packets missed before the session is declared down. */
  multiplier: number;
}

/** The bfdd profile a neighbor with these timers uses. */
export function bfdProfileName(b: FrrBfd): string {
  return `bfd-${b.intervalMs}x${b.multiplier}`;
}

/** Renders bfdd.conf: one profile per distinct timer pair among the neighbors. */
export function renderBfddConfig(c: FrrBgpConfig): string {
  const profiles = new Map<string, FrrBfd>();
  for (const n of c.neighbors) if (n.bfd) profiles.set(bfdProfileName(n.bfd), n.bfd);
  const lines = ['bfd'];
  for (const [name, b] of profiles) {
    lines.push(` profile ${name}`, `  receive-interval ${b.intervalMs}`, `  transmit-interval ${b.intervalMs}`, `  detect-multiplier ${b.multiplier}`, ' !');
  }
  lines.push('!');
  return `${lines.join('\n')}\n`;
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
  /**
   * `bgp graceful-restart`: FRR advertises graceful restart and, as the
   * helper, keeps a restarting neighbor's routes (stale) until its End-of-RIB
   * or the restart time it advertised.
   */
  gracefulRestart?: boolean;
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
  if (c.gracefulRestart) lines.push(' bgp graceful-restart');
  for (const n of c.neighbors) {
    lines.push(` neighbor ${n.address} remote-as ${n.asn}`);
    lines.push(` neighbor ${n.address} timers ${n.keepalive ?? 1} ${n.hold ?? 3}`);
    lines.push(` neighbor ${n.address} timers connect 1`);
    if (n.password) lines.push(` neighbor ${n.address} password ${n.password}`);
    if (n.description) lines.push(` neighbor ${n.address} description ${n.description}`);
    if (n.bfd) lines.push(` neighbor ${n.address} bfd profile ${bfdProfileName(n.bfd)}`);
  }
  const families = new Set(c.neighbors.map((n) => (n.address.includes(':') ? 6 : 4)));
  for (const fam of [4, 6] as const) {
    const nets = (c.networks ?? []).filter((p) => (p.includes(':') ? 6 : 4) === fam);
    if (!families.has(fam) && nets.length === 0) continue;
    lines.push(` address-family ipv${fam} unicast`);
    lines.push(`  maximum-paths ${c.maximumPaths ?? 8}`);
    for (const p of nets) lines.push(`  network ${p}`);
    const ofFamily = c.neighbors.filter((x) => x.address.includes(':') === (fam === 6));
    if (fam === 6) {
      for (const n of ofFamily) lines.push(`  neighbor ${n.address} activate`);
    }
    for (const n of ofFamily.filter((x) => x.routeReflectorClient)) lines.push(`  neighbor ${n.address} route-reflector-client`);
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
  /** Running when a neighbor has `bfd` (or `startFrr` was told to start it). */
  bfdd: Daemon | undefined;
  /** Runs `vtysh -c CMD` against this router's daemons. */
  vtysh(cmd: string): Promise<string>;
  /** Changes the running BGP configuration: `lines` under `configure terminal` / `router bgp ASN`. */
  configureBgp(lines: readonly string[]): Promise<void>;
  /** `show bgp ipv4|ipv6 unicast json`, parsed: prefix → paths. */
  bgpRoutes(family?: 4 | 6): Promise<Record<string, FrrBgpPath[]>>;
  /** `show bgp summary json` peers, parsed: address → state and prefix counts. */
  neighbors(family?: 4 | 6): Promise<Record<string, { state: string; pfxRcd?: number; pfxSnt?: number }>>;
  /** Kernel routes in the router's namespace (`ip -j route show proto bgp`). */
  kernelRoutes(family?: 4 | 6): Promise<KernelRoute[]>;
  /** `show bfd peers json`, parsed: peer address → status (`up`, `down`, ...); empty without bfdd. */
  bfdPeers(): Promise<Record<string, string>>;
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

export interface StartFrrOptions {
  /**
   * bfdd.conf for a config given as text (default: bfdd is not started). For a
   * FrrBgpConfig, bfdd runs when a neighbor has `bfd`, with its profiles.
   */
  bfddConfig?: string;
}

/**
 * Starts zebra and bgpd (and bfdd when BFD is asked for) in `ns` with
 * `config`, waits until vtysh answers. Every daemon is stopped by PID by
 * `stop()`.
 */
export async function startFrr(lab: Lab, ns: string, config: FrrBgpConfig | string, opts: StartFrrOptions = {}): Promise<FrrRouter> {
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
  const bfddConf =
    typeof config === 'string' ? opts.bfddConfig : config.neighbors.some((n) => n.bfd) ? renderBfddConfig(config) : opts.bfddConfig;
  let bfdd: Daemon | undefined;
  if (bfddConf !== undefined) {
    const bfdFile = join(dir, 'bfdd.conf');
    writeFileSync(bfdFile, bfddConf);
    chownSync(bfdFile, uid, gid);
    // bfdd talks to bgpd through zebra; --bfdctl keeps its control socket private to this router.
    bfdd = lab.startDaemon(ns, {
      name: `bfdd@${ns}`,
      command: `${FRR_BIN}/bfdd`,
      args: ['-f', bfdFile, '-i', join(dir, 'bfdd.pid'), '--bfdctl', join(dir, 'bfdd.sock'), ...common],
    });
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
  const asn = typeof config === 'string' ? /router bgp (\d+)/.exec(config)?.[1] : String(config.asn);
  const router: FrrRouter = {
    ns,
    dir,
    zebra,
    bgpd,
    bfdd,
    vtysh,
    async configureBgp(lines) {
      const args = ['--vty_socket', dir, '-c', 'configure terminal', '-c', `router bgp ${asn}`, ...lines.flatMap((l) => ['-c', l])];
      const { stdout } = await lab.exec(ns, 'vtysh', args, { timeoutMs: 20000 });
      // vtysh exits 0 even when a line is refused; it prints why.
      if (/% |Unknown command|error/i.test(stdout)) throw new Error(`FRR refused ${JSON.stringify(lines)}: ${stdout.trim()}`);
    },
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
    async bfdPeers() {
      if (!bfdd) return {};
      const out = JSON.parse(await vtysh('show bfd peers json')) as { peer?: string; status?: string }[];
      return Object.fromEntries(out.filter((p) => p.peer).map((p) => [p.peer as string, p.status ?? '']));
    },
    async stop() {
      await Promise.all([bgpd.stop(), zebra.stop(), ...(bfdd ? [bfdd.stop()] : [])]);
      cleanupDir();
    },
  };
  try {
    await waitFor(`bgpd in ${ns}`, async () => {
      if (!bgpd.running()) throw new Error(`bgpd exited: ${bgpd.output()}`);
      if (bfdd && !bfdd.running()) throw new Error(`bfdd exited: ${bfdd.output()}`);
      await vtysh('show bgp summary json');
      return true;
    }, 15000, 100);
  } catch (e) {
    await router.stop();
    throw e;
  }
  return router;
}
