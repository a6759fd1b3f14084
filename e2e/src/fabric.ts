/**
 * The fabric lab: racks of dual-homed, dual-stack nodes behind two FRR ToRs
 * each, the ToRs joined by an FRR spine (address plan in plan.ts).
 *
 *   <p>mgmt      bridge: etcd; every node's `mgmt` interface (etcd traffic only)
 *   <p>r1a, r1b  rack 1's planes A and B: bridges, each with its ToR and
 *                every node of the rack (`eth-a`, `eth-b`)
 *   <p>tor-r1a   FRR, AS 65101: the plane's nodes through listen ranges (v4
 *                and v6 sessions), the spine over a point-to-point link
 *   <p>spine     FRR, AS 65100: ECMP towards both ToRs of each rack
 *   <p>nN        node: its BGP address on the loopback, AS 64600+N,
 *                terrace-agent with a gobgpd or a BIRD sidecar; no node mesh
 *   <p>pod-X     a pod with an IPv4 and an IPv6 address, wired by terrace-cni
 *
 * As in TerraceLab, every process runs in a lab namespace and is tracked by
 * PID, and `destroy()` (also on process exit) removes everything.
 */
import { startOrTearDown } from './lab-start.js';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLab, onProcessExit, startFrr, startLabEtcd, type Daemon, type FrrRouter, type Lab } from '@terrace/testkit';
import { addPodThroughCni, cniStateDir, resultIPv4, resultIPv6 } from './cni.js';
import { renderFabricBfdd, renderFabricBgpd, type FabricNeighbor, type FabricRouter } from './fabric-frr.js';
import { fabricManifests } from './fabric-manifests.js';
import { killBirdsOn, spawnGobgpd, startBirdSidecar, writeInitialBirdConf } from './hosts.js';
import type { LabNode } from './lab.js';
import {
  CLUSTER,
  ETCD_IP,
  ETCD_URL,
  FABRIC_POOL_V6,
  FABRIC_PREFIX_LEN,
  FABRIC_RACKS,
  GOBGP_API,
  LAB_BFD,
  PLANES,
  POOL_A,
  SPINE_ASN,
  fabricNodeAddress,
  fabricNodeAsn,
  mgmtIp,
  planeNet,
  rackAsn,
  spineLink,
  type Plane,
} from './plan.js';
import { BIN, cleanEnv, mustRunIn, runIn, waitUntil, type RunResult } from './proc.js';
import type { RouteEntry } from './routes.js';

export interface FabricOptions {
  /** Racks (default 2). */
  racks?: number;
  /** Nodes per rack (default 2): rack r holds nodes (r-1)·k+1 … r·k. */
  nodesPerRack?: number;
  /** Node numbers whose agent drives a BIRD sidecar instead of gobgpd. */
  birdNodes?: readonly number[];
  log?: (line: string) => void;
}

export interface FabricNode extends LabNode {
  rack: number;
  /** The node's IPv6 BGP address (on its loopback); `ip` is the IPv4 one. */
  ip6: string;
}

export interface FabricPod {
  name: string;
  node: string;
  ns: string;
  containerId: string;
  ip: string;
  ip6: string;
  result: Record<string, unknown>;
}

/** A ToR's name: `tor-r<rack><plane>`. */
export function torName(rack: number, plane: Plane): string {
  return `tor-r${rack}${plane}`;
}

export class FabricLab {
  readonly nodes = new Map<string, FabricNode>();
  readonly pods = new Map<string, FabricPod>();
  /** By torName(); a ToR that was killed is gone from here. */
  readonly tors = new Map<string, FrrRouter>();
  spine: FrrRouter | undefined;
  readonly racks: number;
  readonly nodesPerRack: number;
  private readonly planeNs = new Map<string, string>();
  private readonly birdNodes: ReadonlySet<number>;
  private readonly routers: FrrRouter[] = [];
  private readonly removeHook: () => void;
  private destroyed = false;

  private constructor(
    readonly kit: Lab,
    readonly mgmtNs: string,
    readonly tmp: string,
    opts: FabricOptions,
    private readonly log: (line: string) => void,
  ) {
    this.racks = opts.racks ?? FABRIC_RACKS;
    this.nodesPerRack = opts.nodesPerRack ?? 2;
    this.birdNodes = new Set(opts.birdNodes ?? []);
    this.removeHook = onProcessExit(() => {
      this.killRunBirds();
      for (const r of this.routers) rmSync(r.dir, { recursive: true, force: true });
      rmSync(this.tmp, { recursive: true, force: true });
    });
  }

  get cniPath(): string {
    return join(this.tmp, 'cni-bin');
  }

  /** Builds the whole fabric; on any failure it is torn down before the error is rethrown. */
  static async start(opts: FabricOptions = {}): Promise<FabricLab> {
    const kit = await createLab({ tag: 'tf' });
    const tmp = mkdtempSync(join(tmpdir(), `terrace-fabric-${kit.prefix}`));
    return startOrTearDown(
      kit,
      tmp,
      async () => new FabricLab(kit, await kit.addBridge('mgmt'), tmp, opts, opts.log ?? (() => undefined)),
      (lab) => lab.build(),
    );
  }

  /** The rack node n sits in. */
  rackOf(n: number): number {
    return Math.ceil(n / this.nodesPerRack);
  }

  private async build(): Promise<void> {
    mkdirSync(this.cniPath);
    symlinkSync(BIN.cni, join(this.cniPath, 'terrace'));
    await this.kit.addAddress(this.mgmtNs, 'br0', `${ETCD_IP}/${FABRIC_PREFIX_LEN}`);
    await startLabEtcd(this.kit, this.mgmtNs, ETCD_IP, join(this.tmp, 'etcd'));
    await this.apply(fabricManifests(this.racks));
    this.log(`etcd is up at ${ETCD_URL} on the management network; no node mesh, a BGPPeer per ToR and family, pools ${POOL_A.cidr} and ${FABRIC_POOL_V6.cidr}`);

    const spineNs = await this.kit.addNamespace('spine');
    await forwarding(spineNs);
    const spineNeighbors: FabricNeighbor[] = [];
    for (let rack = 1; rack <= this.racks; rack++) {
      for (const plane of PLANES) {
        await this.wireTor(rack, plane, spineNs);
        const link = spineLink(rack, plane).tor;
        spineNeighbors.push(
          { address: link.v4, asn: rackAsn(rack), description: torName(rack, plane) },
          { address: link.v6, asn: rackAsn(rack), description: `${torName(rack, plane)}-v6` },
        );
      }
    }
    this.spine = await this.startRouter(spineNs, { hostname: 'spine', asn: SPINE_ASN, routerId: '198.18.2.254', neighbors: spineNeighbors });
    this.log(`FRR runs the spine (AS ${SPINE_ASN}) and ${this.tors.size} ToRs (two per rack, rack r in AS ${SPINE_ASN}+r)`);

    const total = this.racks * this.nodesPerRack;
    const started = await Promise.all(Array.from({ length: total }, (_, i) => this.addNode(i + 1)));
    // Nodes start concurrently; list them in number order whatever finished first.
    this.nodes.clear();
    for (const n of started) this.nodes.set(n.name, n);
    await this.waitSessions();
    this.log('every node has IPv4 and IPv6 sessions with both ToRs of its rack; every ToR with the spine');
  }

  /** A ToR's namespace, its plane bridge and its point-to-point link to the spine. */
  private async wireTor(rack: number, plane: Plane, spineNs: string): Promise<void> {
    const name = torName(rack, plane);
    const planeNs = await this.kit.addBridge(`r${rack}${plane}`);
    this.planeNs.set(`${rack}${plane}`, planeNs);
    const ns = await this.kit.addNamespace(name);
    await forwarding(ns);
    const net = planeNet(rack, plane);
    await this.kit.connect(ns, planeNs, `${net.tor.v4}/24`, { ifname: 'plane' });
    await this.kit.addAddress(ns, 'plane', `${net.tor.v6}/64`);
    const link = spineLink(rack, plane);
    // A veth pair created in the ToR's namespace with its peer moved straight
    // into the spine's: nothing appears in the root namespace.
    await mustRunIn(ns, 'ip', ['link', 'add', 'spine', 'type', 'veth', 'peer', 'name', name, 'netns', spineNs]);
    await this.kit.addAddress(ns, 'spine', `${link.tor.v4}/31`);
    await this.kit.addAddress(ns, 'spine', `${link.tor.v6}/64`);
    await this.kit.addAddress(spineNs, name, `${link.spine.v4}/31`);
    await this.kit.addAddress(spineNs, name, `${link.spine.v6}/64`);
    await mustRunIn(ns, 'ip', ['link', 'set', 'spine', 'up']);
    await mustRunIn(spineNs, 'ip', ['link', 'set', name, 'up']);
    const neighbors: FabricNeighbor[] = [
      { address: link.spine.v4, asn: SPINE_ASN, description: 'spine' },
      { address: link.spine.v6, asn: SPINE_ASN, description: 'spine-v6' },
    ];
    // The rack's nodes come in through the plane's listen ranges.
    const cfg = { hostname: name, asn: rackAsn(rack), routerId: net.tor.v4, neighbors, nodeRanges: { v4: net.v4, v6: net.v6 }, nodeBfd: LAB_BFD, defaultToNodes: true };
    this.tors.set(name, await this.startRouter(ns, cfg, renderFabricBfdd(LAB_BFD)));
  }

  private async startRouter(ns: string, cfg: FabricRouter, bfddConfig?: string): Promise<FrrRouter> {
    const r = await startFrr(this.kit, ns, renderFabricBgpd(cfg), bfddConfig === undefined ? {} : { bfddConfig });
    this.routers.push(r);
    return r;
  }

  tor(rack: number, plane: Plane): FrrRouter {
    const t = this.tors.get(torName(rack, plane));
    if (!t) throw new Error(`fabric: no ToR ${torName(rack, plane)}`);
    return t;
  }

  node(name: string): FabricNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`fabric: no node ${name}`);
    return n;
  }

  /** Node n: namespace, loopback address, management link, one uplink per plane, its speaker, its agent. */
  private async addNode(index: number): Promise<FabricNode> {
    const name = `node-${index}`;
    const rack = this.rackOf(index);
    const ns = await this.kit.addNamespace(`n${index}`);
    await forwarding(ns);
    const addr = fabricNodeAddress(index);
    await this.kit.addAddress(ns, 'lo', `${addr.v4}/32`);
    await this.kit.addAddress(ns, 'lo', `${addr.v6}/128`);
    await this.kit.connect(ns, this.mgmtNs, `${mgmtIp(index)}/${FABRIC_PREFIX_LEN}`, { ifname: 'mgmt' });
    for (const plane of PLANES) {
      const h = planeNet(rack, plane).host(index);
      const ifname = `eth-${plane}`;
      await this.kit.connect(ns, this.planeNs.get(`${rack}${plane}`) as string, `${h.v4}/24`, { ifname });
      await this.kit.addAddress(ns, ifname, `${h.v6}/64`);
    }
    const dir = join(this.tmp, name);
    mkdirSync(dir, { recursive: true });
    const bird = this.birdNodes.has(index);
    const base = { name, index, ns, ip: addr.v4, ip6: addr.v6, rack, socket: join(dir, 'cni.sock'), agent: undefined };
    const node: FabricNode = bird
      ? { ...base, backend: 'bird', gobgpd: undefined, birdDir: join(dir, 'bird') }
      : { ...base, backend: 'gobgp', gobgpd: spawnGobgpd(this.kit, name, ns) };
    this.nodes.set(name, node);
    if (node.birdDir) {
      mkdirSync(node.birdDir, { recursive: true });
      writeInitialBirdConf(node.birdDir, addr.v4);
      node.bird = await startBirdSidecar(this.kit, ns, name, node.birdDir);
    }
    await this.startAgent(node);
    this.log(`${name}: rack r${rack}, address ${addr.v4} / ${addr.v6} on its loopback, AS ${fabricNodeAsn(index)}, ${bird ? 'a BIRD' : 'a gobgpd'} sidecar driven by terrace-agent`);
    return node;
  }

  private async startAgent(node: FabricNode): Promise<void> {
    const argv = [
      BIN.agent,
      '--node-name', node.name,
      '--node-ip', `${node.ip}/32`,
      '--node-ip', `${node.ip6}/128`,
      '--as', String(fabricNodeAsn(node.index)),
      '--labels', `rack=r${node.rack},lab-node=n${node.index}`,
      ...(node.backend === 'bird' ? ['--bgp-backend', 'bird', '--bird-dir', node.birdDir as string, '--bird-sidecar'] : ['--gobgp-address', GOBGP_API]),
      '--etcd-endpoints', ETCD_URL,
      '--cluster', CLUSTER,
      '--cni-socket', node.socket,
      '--cni-state-dir', cniStateDir(node.socket),
      '--lease-ttl', '3s',
      '--status-interval', '2s',
      '--log-format', 'json',
      '--metrics-listen', 'off',
    ];
    const agent = this.kit.startDaemon(node.ns, { name: `terrace-agent@${node.name}`, command: process.execPath, args: argv, env: cleanEnv(), keepOutput: 400000 });
    node.agent = agent;
    await waitUntil(`terrace-agent on ${node.name}`, () => {
      if (!agent.running()) throw new Error(`terrace-agent on ${node.name} exited: ${agent.output().slice(-3000)}`);
      return agent.output().includes('"agent running"') && existsSync(node.socket);
    }, 30000, 50);
  }

  /** Waits until every ToR has both sessions (v4, v6) with each of its rack's nodes and with the spine. */
  async waitSessions(timeoutMs = 60000): Promise<void> {
    const want = new Map<FrrRouter, { 4: string[]; 6: string[] }>();
    for (let rack = 1; rack <= this.racks; rack++) {
      for (const plane of PLANES) {
        const tor = this.tors.get(torName(rack, plane));
        if (!tor) continue;
        const hosts = [...this.nodes.values()].filter((n) => n.rack === rack).map((n) => planeNet(rack, plane).host(n.index));
        const link = spineLink(rack, plane).spine;
        want.set(tor, { 4: [...hosts.map((h) => h.v4), link.v4], 6: [...hosts.map((h) => h.v6), link.v6] });
      }
    }
    let missing: string[] = [];
    try {
      await waitUntil('the fabric\'s BGP sessions', async () => {
        missing = [];
        for (const [tor, fams] of want) {
          for (const fam of [4, 6] as const) {
            const seen = await tor.neighbors(fam).catch(() => ({}) as Record<string, { state: string }>);
            for (const a of fams[fam]) if (seen[a]?.state !== 'Established') missing.push(`${tor.ns}→${a}`);
          }
        }
        return missing.length === 0;
      }, timeoutMs, 250);
    } catch (e) {
      throw new Error(`${(e as Error).message}; not Established: ${missing.join(', ')}\n${this.diagnostics()}`);
    }
  }

  /** terracectl against the fabric's etcd, run in the management namespace. */
  ctl(args: readonly string[], input?: string): Promise<RunResult> {
    return runIn(this.mgmtNs, process.execPath, [BIN.ctl, '--etcd-endpoints', ETCD_URL, '--cluster', CLUSTER, ...args], input === undefined ? {} : { input });
  }

  async mustCtl(args: readonly string[], input?: string): Promise<string> {
    const r = await this.ctl(args, input);
    if (r.code !== 0) throw new Error(`terracectl ${args.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
  }

  async apply(yaml: string): Promise<void> {
    await this.mustCtl(['apply', '-f', '-'], yaml);
  }

  /** A pod with an IPv4 and an IPv6 address on `nodeName`, through the real plugin. */
  async addPod(nodeName: string, name: string): Promise<FabricPod> {
    const node = this.node(nodeName);
    const { ns, containerId, result } = await addPodThroughCni(this.kit, name, {
      nodeNs: node.ns,
      cniPath: this.cniPath,
      agentSocket: node.socket,
      ipv4Pools: [POOL_A.name],
      ipv6Pools: [FABRIC_POOL_V6.name],
    });
    const pod: FabricPod = { name, node: nodeName, ns, containerId, ip: resultIPv4(result), ip6: resultIPv6(result), result };
    this.pods.set(name, pod);
    return pod;
  }

  pod(name: string): FabricPod {
    const p = this.pods.get(name);
    if (!p) throw new Error(`fabric: no pod ${name}`);
    return p;
  }

  /** Main-table routes (`ip -j route show`) of one family in `ns`. */
  async routes(ns: string, family: 4 | 6): Promise<RouteEntry[]> {
    return JSON.parse((await mustRunIn(ns, 'ip', [`-${family}`, '-j', 'route', 'show'])) || '[]') as RouteEntry[];
  }

  /**
   * A ToR loses power: its links go dark (its ends of the plane and spine
   * links are deleted, taking their peers with them) and FRR is SIGKILLed.
   * Its nodes notice only when their hold timer runs out.
   */
  async killTor(rack: number, plane: Plane): Promise<void> {
    const name = torName(rack, plane);
    const tor = this.tor(rack, plane);
    await mustRunIn(tor.ns, 'ip', ['link', 'del', 'plane']);
    await mustRunIn(tor.ns, 'ip', ['link', 'del', 'spine']);
    const procs = [tor.bgpd, tor.zebra, tor.bfdd].filter((d): d is Daemon => d !== undefined && d.running());
    for (const d of procs) {
      try {
        process.kill(d.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await Promise.all(procs.map((d) => d.exited));
    this.tors.delete(name);
  }

  private killRunBirds(): void {
    killBirdsOn([...this.nodes.values()].filter((n) => n.birdDir).map((n) => join(n.birdDir as string, 'bird.ctl')));
  }

  /** The tail of every agent's output, for a failing test's message. */
  diagnostics(): string {
    return [...this.nodes.values()]
      .map((n) => `--- ${n.name}\n${n.agent?.output().slice(-1500) ?? ''}${n.gobgpd ? `\n--- gobgpd\n${n.gobgpd.output().slice(-500)}` : ''}`)
      .join('\n');
  }

  /** Stops every daemon (by PID), deletes every namespace, removes the temporary directories. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    try {
      await Promise.all([...this.nodes.values()].map((n) => n.agent?.stop(2000)));
      this.killRunBirds();
      await Promise.all(this.routers.map((r) => r.stop().catch(() => undefined)));
      await this.kit.destroy();
    } finally {
      for (const r of this.routers) rmSync(r.dir, { recursive: true, force: true });
      rmSync(this.tmp, { recursive: true, force: true });
      this.removeHook();
    }
  }
}

/** Routers forward; so does a node (its agent also sets this when its first pod comes). */
async function forwarding(ns: string): Promise<void> {
  await mustRunIn(ns, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
}
