/**
 * The Terrace lab: a whole cluster in network namespaces.
 *
 *   <p>fabric   bridge br0, 198.18.0.2/24: etcd, terrace-controller, terracectl
 *   <p>tor      198.18.0.1/24: FRR (zebra + bgpd), AS 65000, a neighbor per node
 *   <p>nN       198.18.0.(10+N)/24: gobgpd + terrace-agent (AS 64512, node mesh);
 *               a BIRD node (LabOptions.birdNodes): terrace-agent supervising bird;
 *               BFD (100 ms × 3) between nodes, and with the ToR (LabOptions.torBfd)
 *   <p>pod-X    a pod: wired by the real terrace-cni, run inside its node's namespace
 *   <p>inet     LabOptions.internet: a host behind the ToR (internet.ts); every node
 *               then has a default route via the ToR
 *
 * Every process runs inside a lab namespace (`ip netns exec`) and is tracked
 * by PID; nothing connects the lab to the root namespace. `destroy()` (also
 * run on process exit, SIGINT and SIGTERM) stops every daemon, deletes every
 * namespace and removes the run's temporary directory.
 */
import { startOrTearDown } from './lab-start.js';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLab, onProcessExit, startFrr, startLabEtcd, type Daemon, type FrrRouter, type Lab } from '@terrace/testkit';
import { addPodThroughCni, callCni, CniFailure, cniStateDir, resultIPv4, type CniOutcome } from './cni.js';
import { LabEtcdCluster } from './etcd-cluster.js';
import { addInternet } from './internet.js';
import { labManifests, reflectorManifests, type PoolDef } from './manifests.js';
import { AGENT_METRICS_PORT, CONTROLLER_METRICS_PORT, STATUS_PORT } from './plan.js';
import { CLUSTER, ETCD_IP, POOL_A, ETCD_URL, FABRIC_PREFIX_LEN, GOBGP_API, LAB_BFD, NODE_ASN, TOR_ASN, TOR_IP, nodeIp } from './plan.js';
import { killBirdsOn, pingOnce, speakerEstablished, pingsDuring, spawnGobgpd, startBirdSidecar, waitForPing, writeInitialBirdConf, type PingRun } from './hosts.js';
import { BIN, cleanEnv, mustRunIn, runIn, waitUntil, type RunResult } from './proc.js';

export interface LabOptions {
  /** Nodes started with the lab (default 3). */
  nodes?: number;
  /** Node numbers the ToR gets a neighbor for (default: the started nodes). */
  torNeighbors?: number;
  /** Start terrace-controller with this --node-grace (e.g. "5s"); absent: no controller. */
  controllerGrace?: string;
  /**
   * Node indexes (1-based) whose agent runs BIRD (`--bgp-backend bird`, BIRD
   * supervised by the agent) instead of driving a gobgpd sidecar.
   */
  birdNodes?: readonly number[];
  /**
   * Node indexes (1-based) that are route reflectors (one cluster): the mesh
   * is off and every node peers with the reflectors only (reflectorManifests).
   */
  reflectors?: readonly number[];
  /**
   * The ToR runs BFD (100 ms × 3) with every node, and the ToR BGPPeer asks
   * for it (default: in a lab with BIRD nodes). Off otherwise because a GoBGP
   * node's BFD runs in its agent: an agent restart takes the node's BFD
   * sessions down, and FRR 8.4 then drops the BGP session (even on the
   * AdminDown the stopping agent sends), which a no-loss restart cannot have.
   */
  torBfd?: boolean;
  /** Pools applied besides the lab's two. */
  extraPools?: readonly PoolDef[];
  /** Adds the internet host behind the ToR (internet.ts) and a default route via the ToR on every node. */
  internet?: boolean;
  /** Prefixes the ToR originates towards the nodes (FRR `network`), e.g. a default route. */
  torNetworks?: readonly string[];
  /**
   * Graceful restart on every session (Terrace's default, 120 s) and on the
   * ToR (`bgp graceful-restart`). Off by default in the lab, whose node-loss
   * scenarios measure how soon a dead node's routes go: a graceful-restart
   * helper keeps them for the restart time instead.
   */
  gracefulRestart?: boolean;
  /**
   * etcd members (default 1). With more, every member runs in the fabric
   * namespace on an address of its own (etcd-cluster.ts) and every client is
   * given all the endpoints.
   */
  etcdMembers?: number;
  /** Progress lines (the demo narrates with them). */
  log?: (line: string) => void;
  /**
   * Serve metrics and health: every agent on its node address, port
   * AGENT_METRICS_PORT, the controller on the fabric, CONTROLLER_METRICS_PORT
   * (metricsUrl()). Off by default: nothing listens that a test did not ask for.
   */
  metrics?: boolean;
  /** The namespace prefix (default: `tl` + this process's id and a counter); `make lab` picks one per run. */
  prefix?: string;
}

export interface LabNode {
  name: string;
  index: number;
  ns: string;
  ip: string;
  socket: string;
  /** The node's speaker: a gobgpd sidecar, or a BIRD sidecar; the agent drives either. */
  backend: 'gobgp' | 'bird';
  /** The gobgpd sidecar (GoBGP nodes only). */
  gobgpd: Daemon | undefined;
  /** BIRD nodes: the agent's --bird-dir (bird.conf, control socket bird.ctl). */
  birdDir?: string;
  /** The BIRD sidecar (BIRD nodes only). */
  bird?: Daemon;
  agent: Daemon | undefined;
  /**
   * When set, the agent runs in this process's mount namespace (through
   * `nsenter`), e.g. a podman harness's holder shell, so that it can open the
   * network namespaces a runtime bind-mounted there.
   */
  agentMountNsOf?: number;
}

export interface LabPod {
  name: string;
  node: string;
  ns: string;
  containerId: string;
  ip: string;
  result: Record<string, unknown>;
  /** How long the CNI ADD took, in ms. */
  addMs: number;
}

export class TerraceLab {
  readonly nodes = new Map<string, LabNode>();
  readonly pods = new Map<string, LabPod>();
  tor: FrrRouter | undefined;
  controller: Daemon | undefined;
  /** The internet host's namespace (LabOptions.internet). */
  internetNs: string | undefined;
  /** LabOptions.etcdMembers above 1: the members, to kill and restart. */
  etcdCluster: LabEtcdCluster | undefined;
  /** What every client's --etcd-endpoints gets. */
  etcdEndpoints = ETCD_URL;
  private readonly removeHook: () => void;
  private etcd: Daemon | undefined;
  private destroyed = false;
  private birdNodes = new Set<number>();
  private reflectors = new Set<number>();
  private torBfd = false;
  private metrics = false;

  private constructor(
    readonly kit: Lab,
    readonly fabricNs: string,
    readonly torNs: string,
    readonly tmp: string,
    private readonly log: (line: string) => void,
  ) {
    this.removeHook = onProcessExit(() => {
      this.killRunBirds();
      if (this.tor) rmSync(this.tor.dir, { recursive: true, force: true });
      rmSync(this.tmp, { recursive: true, force: true });
    });
  }

  /** The directory that holds the plugin as `terrace`, as a runtime's CNI_PATH would. */
  get cniPath(): string {
    return join(this.tmp, 'cni-bin');
  }

  /** Builds the whole lab; on any failure it is torn down before the error is rethrown. */
  static async start(opts: LabOptions = {}): Promise<TerraceLab> {
    const kit = await createLab(opts.prefix === undefined ? { tag: 'tl' } : { prefix: opts.prefix });
    const tmp = mkdtempSync(join(tmpdir(), `terrace-lab-${kit.prefix}`));
    const log = opts.log ?? (() => undefined);
    return startOrTearDown(
      kit,
      tmp,
      async () => new TerraceLab(kit, await kit.addBridge('fabric'), kit.nsName('tor'), tmp, log),
      (lab) => lab.build(opts),
    );
  }

  private async build(opts: LabOptions): Promise<void> {
    const n = opts.nodes ?? 3;
    this.birdNodes = new Set(opts.birdNodes ?? []);
    this.reflectors = new Set(opts.reflectors ?? []);
    this.torBfd = opts.torBfd ?? this.birdNodes.size > 0;
    this.metrics = opts.metrics ?? false;
    mkdirSync(this.cniPath);
    symlinkSync(BIN.cni, join(this.cniPath, 'terrace'));

    await this.kit.addAddress(this.fabricNs, 'br0', `${ETCD_IP}/${FABRIC_PREFIX_LEN}`);
    await this.startEtcd(opts.etcdMembers ?? 1);
    const gracefulRestart = opts.gracefulRestart ?? false;
    await this.apply(labManifests(opts.extraPools, { torBfd: this.torBfd, mesh: this.reflectors.size === 0, gracefulRestart }));
    if (this.reflectors.size > 0) await this.apply(reflectorManifests([...this.reflectors].sort().map((index) => ({ name: this.nodeName(index), index })), { gracefulRestart }));
    this.log(`etcd is up at ${this.etcdEndpoints}; BGP settings, the ToR peer and the pools are applied`);

    await this.startTor(opts.torNeighbors ?? n, gracefulRestart, opts.torNetworks);
    if (opts.internet) this.internetNs = await addInternet(this.kit, this.torNs);
    if (opts.controllerGrace) this.startController(opts.controllerGrace);

    await Promise.all(Array.from({ length: n }, (_, i) => this.addNode(i + 1)));
    await this.waitSessions();
    this.log(
      this.reflectors.size > 0
        ? `every node has an established BGP session with the ToR and with the route reflectors`
        : `every node has an established BGP session with the ToR and with each other node`,
    );
  }

  private async startEtcd(members: number): Promise<void> {
    if (members > 1) {
      this.etcdCluster = new LabEtcdCluster(this.kit, this.fabricNs, members, join(this.tmp, 'etcd'));
      await this.etcdCluster.start();
      this.etcdEndpoints = this.etcdCluster.endpoints;
      return;
    }
    // Tracked by PID by the kit, which stops it with the lab.
    this.etcd = await startLabEtcd(this.kit, this.fabricNs, ETCD_IP, join(this.tmp, 'etcd'));
  }

  /** The lab's etcd process (an outage scenario freezes it by this PID). */
  get etcdPid(): number {
    if (!this.etcd?.running()) throw new Error('lab: etcd is not running');
    return this.etcd.pid;
  }

  /** Stops the lab's etcd by PID; its data stays for restartEtcd(). */
  async stopEtcd(): Promise<void> {
    await this.etcd?.stop();
  }

  /** Starts the lab's etcd again on the same address and data, once it is stopped. */
  async restartEtcd(): Promise<void> {
    if (this.etcdCluster) throw new Error('lab: restartEtcd is for a one-member etcd; a multi-member lab restarts members through etcdCluster');
    if (this.etcd?.running()) throw new Error('lab: etcd is still running');
    await this.startEtcd(1);
  }

  private async startTor(neighbors: number, gracefulRestart: boolean, networks: readonly string[] = []): Promise<void> {
    await this.kit.addNamespace('tor');
    await this.kit.connect(this.torNs, this.fabricNs, `${TOR_IP}/${FABRIC_PREFIX_LEN}`);
    this.tor = await startFrr(this.kit, this.torNs, {
      hostname: 'tor',
      asn: TOR_ASN,
      routerId: TOR_IP,
      ...(networks.length > 0 ? { networks } : {}),
      gracefulRestart,
      neighbors: Array.from({ length: neighbors }, (_, i) => ({
        address: nodeIp(i + 1),
        asn: NODE_ASN,
        keepalive: 1,
        hold: 3,
        description: `node-${i + 1}`,
        ...(this.torBfd ? { bfd: LAB_BFD } : {}),
      })),
    });
    this.log(`FRR runs the top-of-rack router at ${TOR_IP} (AS ${TOR_ASN})${this.torBfd ? `, with BFD (bfdd, ${LAB_BFD.intervalMs} ms × ${LAB_BFD.multiplier}) towards every node` : ''}`);
  }

  private startController(grace: string): void {
    this.controller = this.kit.startDaemon(this.fabricNs, {
      name: 'terrace-controller',
      command: process.execPath,
      args: [BIN.controller, '--etcd-endpoints', this.etcdEndpoints, '--cluster', CLUSTER, '--node-grace', grace, '--interval', '1s', '--identity', 'lab-controller', '--log-format', 'json',
        // The status page, reached from the fabric namespace (STATUS_URL).
        '--status-listen', `${ETCD_IP}:${STATUS_PORT}`,
        '--metrics-listen', this.metrics ? `${ETCD_IP}:${CONTROLLER_METRICS_PORT}` : 'off'],
      env: cleanEnv(),
      keepOutput: 200000,
    });
  }

  /** Where a node's agent (or, for `controller`, the controller) serves /metrics, /healthz and /readyz; reachable from the fabric namespace. */
  metricsUrl(name: string | 'controller'): string {
    if (!this.metrics) throw new Error('lab: started without metrics (LabOptions.metrics)');
    return name === 'controller' ? `http://${ETCD_IP}:${CONTROLLER_METRICS_PORT}` : `http://${this.node(name).ip}:${AGENT_METRICS_PORT}`;
  }

  /** terracectl against the lab's etcd, run in the fabric namespace. */
  ctl(args: readonly string[], input?: string): Promise<RunResult> {
    return runIn(this.fabricNs, process.execPath, [BIN.ctl, '--etcd-endpoints', this.etcdEndpoints, '--cluster', CLUSTER, ...args], input === undefined ? {} : { input });
  }

  /** terracectl, failing on a non-zero exit; returns stdout. */
  async mustCtl(args: readonly string[], input?: string): Promise<string> {
    const r = await this.ctl(args, input);
    if (r.code !== 0) throw new Error(`terracectl ${args.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
  }

  async apply(yaml: string): Promise<void> {
    await this.mustCtl(['apply', '-f', '-'], yaml);
  }

  nodeName(index: number): string {
    return `node-${index}`;
  }

  node(name: string): LabNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`lab: no node ${name}`);
    return n;
  }

  /** Creates node N: its namespace on the fabric, gobgpd, and terrace-agent; resolves when the agent serves CNI. */
  async addNode(index: number): Promise<LabNode> {
    const name = this.nodeName(index);
    const ns = await this.kit.addNamespace(`n${index}`);
    const ip = nodeIp(index);
    await this.kit.connect(ns, this.fabricNs, `${ip}/${FABRIC_PREFIX_LEN}`);
    if (this.internetNs) await mustRunIn(ns, 'ip', ['route', 'add', 'default', 'via', TOR_IP]);
    const dir = join(this.tmp, name);
    mkdirSync(dir, { recursive: true });
    const bird = this.birdNodes.has(index);
    const node: LabNode = bird
      ? { name, index, ns, ip, socket: join(dir, 'cni.sock'), backend: 'bird', gobgpd: undefined, birdDir: join(dir, 'bird'), agent: undefined }
      : { name, index, ns, ip, socket: join(dir, 'cni.sock'), backend: 'gobgp', gobgpd: this.spawnGobgpd(name, ns), agent: undefined };
    this.nodes.set(name, node);
    if (node.birdDir) {
      mkdirSync(node.birdDir, { recursive: true });
      writeInitialBirdConf(node.birdDir, ip);
      await this.startBird(name);
    }
    await this.startAgent(name);
    this.log(
      bird
        ? `${name}: namespace ${ns}, address ${ip}, a BIRD sidecar (pid ${this.birdPid(name) ?? '?'}) and terrace-agent (pid ${node.agent?.pid}) driving it`
        : `${name}: namespace ${ns}, address ${ip}, gobgpd (pid ${node.gobgpd?.pid}) and terrace-agent (pid ${node.agent?.pid}) running`,
    );
    return node;
  }

  private spawnGobgpd(name: string, ns: string): Daemon {
    return spawnGobgpd(this.kit, name, ns);
  }

  /** Kills the node's gobgpd sidecar (SIGKILL, by PID); its agent keeps running. */
  async stopGobgpd(name: string): Promise<void> {
    const node = this.node(name);
    const d = node.gobgpd;
    if (!d) throw new Error(`lab: ${name} runs ${node.backend}, not gobgpd`);
    if (d.running()) process.kill(d.pid, 'SIGKILL');
    await d.exited;
  }

  /** Starts the node's gobgpd sidecar again (empty: its agent configures it). */
  startGobgpd(name: string): void {
    const node = this.node(name);
    if (node.backend !== 'gobgp') throw new Error(`lab: ${name} runs ${node.backend}, not gobgpd`);
    node.gobgpd = this.spawnGobgpd(name, node.ns);
  }

  /**
   * Starts (again) a BIRD node's BIRD sidecar, as a service manager would:
   * after a crash with -R (graceful-restart recovery keeps the kernel routes
   * the last BIRD wrote until its peers have sent their tables again). It
   * reads the file its agent last rendered.
   */
  async startBird(name: string, opts: { recovery?: boolean } = {}): Promise<Daemon> {
    const node = this.node(name);
    if (!node.birdDir) throw new Error(`lab: ${name} runs ${node.backend}, not BIRD`);
    const bird = await startBirdSidecar(this.kit, node.ns, name, node.birdDir, opts.recovery);
    node.bird = bird;
    return bird;
  }

  /** The PID of a BIRD node's BIRD sidecar, while it runs. */
  birdPid(name: string): number | undefined {
    const bird = this.node(name).bird;
    return bird?.running() ? bird.pid : undefined;
  }

  /**
   * SIGKILLs, by PID, every bird still running on a control socket of this
   * run (its command line names a socket under the run's own directory),
   * whichever agent started it: an agent that was SIGKILLed leaves its bird
   * running. Synchronous, so the process-exit hook can call it.
   */
  private killRunBirds(): void {
    killBirdsOn([...this.nodes.values()].filter((n) => n.birdDir).map((n) => join(n.birdDir as string, 'bird.ctl')));
  }

  /**
   * Kills a BIRD node's BIRD sidecar (SIGKILL, by PID) as a crash would, and
   * starts it again with -R, as its service manager would; its agent keeps
   * running and drives the new one. Resolves with both PIDs.
   */
  async killBird(name: string): Promise<{ oldPid: number; newPid: number }> {
    const node = this.node(name);
    const oldPid = this.birdPid(name);
    if (oldPid === undefined || !node.bird) throw new Error(`lab: no BIRD sidecar running on ${name}`);
    process.kill(oldPid, 'SIGKILL');
    await node.bird.exited;
    const bird = await this.startBird(name, { recovery: true });
    return { oldPid, newPid: bird.pid };
  }

  /** Runs birdc against a BIRD node's bird, inside its namespace. */
  async birdc(name: string, command: string): Promise<string> {
    const node = this.node(name);
    if (!node.birdDir) throw new Error(`lab: ${name} runs ${node.backend}, not BIRD`);
    return mustRunIn(node.ns, 'birdc', ['-s', join(node.birdDir, 'bird.ctl'), ...command.split(' ')]);
  }

  /**
   * Starts the node's agent (again) and waits until it serves CNI. With
   * `mountNsOf` (remembered for later starts) the agent joins that process's
   * mount namespace: `ip netns exec` gives every process a mount namespace of
   * its own, and a runtime's bind-mounted pod namespaces live in the runtime's.
   * `ip netns exec NS nsenter --mount ... node` keeps the agent's PID (each execs).
   */
  async startAgent(name: string, opts: { mountNsOf?: number } = {}): Promise<Daemon> {
    const node = this.node(name);
    if (opts.mountNsOf !== undefined) node.agentMountNsOf = opts.mountNsOf;
    const argv = [
      BIN.agent,
      '--node-name', name,
      '--node-ip', node.ip,
      '--labels', `rack=lab,lab-node=n${node.index}`,
      ...(node.backend === 'bird' ? ['--bgp-backend', 'bird', '--bird-dir', node.birdDir as string, '--bird-sidecar'] : ['--gobgp-address', GOBGP_API]),
      '--etcd-endpoints', this.etcdEndpoints,
      '--cluster', CLUSTER,
      '--cni-socket', node.socket,
      '--cni-state-dir', cniStateDir(node.socket),
      '--secrets-dir', this.secretsDir(name),
      '--lease-ttl', '3s',
      '--status-interval', '2s',
      '--log-format', 'json',
      '--metrics-listen', this.metrics ? `${node.ip}:${AGENT_METRICS_PORT}` : 'off',
    ];
    const mountNs = node.agentMountNsOf;
    const agent = this.kit.startDaemon(node.ns, {
      name: `terrace-agent@${name}`,
      ...(mountNs === undefined
        ? { command: process.execPath, args: argv }
        : { command: 'nsenter', args: [`--target=${mountNs}`, '--mount', '--', process.execPath, ...argv] }),
      env: cleanEnv(),
      keepOutput: 400000,
    });
    node.agent = agent;
    await waitUntil(`terrace-agent on ${name}`, () => {
      if (!agent.running()) throw new Error(`terrace-agent on ${name} exited: ${agent.output().slice(-3000)}`);
      return agent.output().includes('"agent running"') && existsSync(node.socket);
    }, 30000, 50);
    return agent;
  }

  /** The node's `--secrets-dir` (BGP passwords as `<dir>/<secret>/<key>`, the Kubernetes volume layout). */
  secretsDir(name: string): string {
    return join(this.tmp, name, 'secrets');
  }

  /** Writes a secret key for every node, or those named (mode 0600), as a mounted Kubernetes secret would appear. */
  writeSecret(secret: string, key: string, value: string, nodes: readonly string[] = [...this.nodes.keys()]): void {
    for (const n of nodes.map((name) => this.node(name))) {
      const dir = join(this.secretsDir(n.name), secret);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(join(dir, key), value, { mode: 0o600 });
    }
  }

  /** Stops the node's agent with SIGTERM (gobgpd and the kernel routes stay, as in a rolling upgrade). */
  async stopAgent(name: string): Promise<void> {
    const node = this.node(name);
    await node.agent?.stop(5000);
    node.agent = undefined;
  }

  async restartAgent(name: string): Promise<void> {
    await this.stopAgent(name);
    await this.startAgent(name);
  }

  /**
   * The node dies: agent and gobgpd are killed (SIGKILL, by PID) and its
   * namespace is deleted, taking its end of the fabric and its pods' veths.
   * Its pods' namespaces go too.
   *
   * `power-off` (the default) cuts the node's fabric link first, as a host
   * that loses power or its uplink does: nothing says goodbye, and the peers
   * notice only when their hold timer runs out. `crash` kills the processes
   * while the link is up, so the kernel closes their TCP sessions (FIN) and
   * the peers notice at once, as when gobgpd crashes on a healthy host.
   */
  async killNode(name: string, how: 'power-off' | 'crash' = 'power-off'): Promise<void> {
    const node = this.node(name);
    // Deleting one end of a veth deletes both: the bridge loses the port.
    if (how === 'power-off') await mustRunIn(node.ns, 'ip', ['link', 'del', 'eth0']);
    const procs = [node.agent, node.gobgpd, node.bird].filter((d): d is Daemon => d !== undefined && d.running());
    for (const d of procs) {
      try {
        process.kill(d.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await Promise.all(procs.map((d) => d.exited));
    node.agent = undefined;
    await this.kit.removeNamespace(node.ns);
    this.nodes.delete(name);
    for (const pod of [...this.pods.values()].filter((p) => p.node === name)) {
      await this.kit.removeNamespace(pod.ns);
      this.pods.delete(pod.name);
    }
  }

  /** Waits until the ToR has an Established session with each address. */
  async waitTorSessions(addresses: readonly string[], timeoutMs = 30000): Promise<void> {
    const tor = this.tor;
    if (!tor) throw new Error('lab: no ToR');
    let seen: Record<string, { state: string }> = {};
    try {
      await waitUntil(`BGP sessions ToR ↔ ${addresses.join(', ')}`, async () => {
        seen = await tor.neighbors(4).catch(() => ({}) as Record<string, { state: string }>);
        return addresses.every((a) => seen[a]?.state === 'Established');
      }, timeoutMs, 200);
    } catch (e) {
      const states = addresses.map((a) => `${a} ${seen[a]?.state ?? 'unknown'}`).join(', ');
      throw new Error(`${(e as Error).message} (ToR: ${states})\n${this.diagnostics()}`);
    }
  }

  /** Addresses of the BGP sessions `node`'s gobgpd has Established (from its own API, inside its namespace). */
  async establishedPeers(name: string): Promise<Set<string>> {
    return speakerEstablished(this.node(name));
  }

  /**
   * The live nodes `name` should have a session with: every other one in a
   * mesh; with reflectors, a reflector peers with every node and any other
   * node with the reflectors only.
   */
  expectedPeers(name: string): LabNode[] {
    const me = this.node(name);
    const others = [...this.nodes.values()].filter((o) => o !== me);
    if (this.reflectors.size === 0 || this.reflectors.has(me.index)) return others;
    return others.filter((o) => this.reflectors.has(o.index));
  }

  /** Waits for the full picture: each live node Established with the ToR and with every node it should peer with. */
  async waitSessions(timeoutMs = 30000): Promise<void> {
    const nodes = [...this.nodes.values()];
    await this.waitTorSessions(nodes.map((x) => x.ip), timeoutMs);
    await waitUntil(this.reflectors.size > 0 ? 'the BGP sessions with the route reflectors' : 'the node-to-node BGP mesh', async () => {
      for (const n of nodes) {
        const up = await this.establishedPeers(n.name);
        if (!this.expectedPeers(n.name).every((o) => up.has(o.ip)) || !up.has(TOR_IP)) return false;
      }
      return true;
    }, timeoutMs, 200);
  }

  /**
   * Creates pod `name` on `nodeName`: a namespace, then CNI ADD through the
   * real plugin. Pods allocate from the lab's default pool unless `pools`
   * names others (a benchmark's extra pools must not catch ordinary pods).
   */
  async addPod(nodeName: string, name: string, opts: { pools?: readonly string[]; podNamespace?: string } = {}): Promise<LabPod> {
    const node = this.node(nodeName);
    const { ns, containerId, out, result } = await addPodThroughCni(this.kit, name, {
      nodeNs: node.ns,
      cniPath: this.cniPath,
      agentSocket: node.socket,
      podNamespace: opts.podNamespace ?? 'default',
      ipv4Pools: opts.pools ?? [POOL_A.name],
    });
    const pod: LabPod = { name, node: nodeName, ns, containerId, ip: resultIPv4(result), result, addMs: out.ms };
    this.pods.set(name, pod);
    return pod;
  }

  pod(name: string): LabPod {
    const p = this.pods.get(name);
    if (!p) throw new Error(`lab: no pod ${name}`);
    return p;
  }

  /** CNI DEL for the pod, then its namespace goes (as a runtime does when a pod is removed). */
  async deletePod(name: string): Promise<CniOutcome> {
    const pod = this.pod(name);
    const node = this.node(pod.node);
    const out = await callCni({
      command: 'DEL',
      nodeNs: node.ns,
      cniPath: this.cniPath,
      agentSocket: node.socket,
      containerId: pod.containerId,
      podNs: pod.ns,
      podName: pod.name,
      prevResult: pod.result,
    });
    if (out.code !== 0) throw new CniFailure('DEL', out);
    await this.kit.removeNamespace(pod.ns);
    this.pods.delete(name);
    return out;
  }

  /** One ICMP echo from namespace `fromNs` to `ip`, 1 s to answer. */
  async ping(fromNs: string, ip: string): Promise<boolean> {
    return pingOnce(fromNs, ip);
  }

  /** Pings `ip` every 10 ms around `disrupt()` and `afterMs` after it (see hosts.ts pingsDuring). */
  async pingsDuring(fromNs: string, ip: string, disrupt: () => Promise<void>, afterMs = 5000): Promise<PingRun> {
    return pingsDuring(fromNs, ip, disrupt, afterMs);
  }

  /** Pings until one answer comes (routes may still be propagating) or the time is up. */
  async waitPing(fromNs: string, ip: string, timeoutMs = 15000): Promise<void> {
    await waitForPing(fromNs, ip, timeoutMs);
  }

  /** IPv4 routes in `ns` (optionally of one protocol), e.g. the ToR's `bgp` routes. */
  async routeTable(ns: string, proto?: string): Promise<string> {
    return mustRunIn(ns, 'ip', ['-4', 'route', 'show', ...(proto ? ['proto', proto] : [])]);
  }

  /** The tail of every daemon's output, for a failing test's message. */
  diagnostics(): string {
    const parts: string[] = [];
    for (const n of this.nodes.values()) {
      if (n.agent) parts.push(`--- ${n.agent.name}\n${n.agent.output().slice(-2000)}`);
      if (n.gobgpd) parts.push(`--- ${n.gobgpd.name}\n${n.gobgpd.output().slice(-1000)}`);
    }
    if (this.controller) parts.push(`--- controller\n${this.controller.output().slice(-2000)}`);
    return parts.join('\n');
  }

  /** Stops every daemon (by PID), deletes every namespace, removes the temporary directory. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    try {
      // Agents and the controller first, while etcd still answers their goodbyes.
      const clients = [...[...this.nodes.values()].map((n) => n.agent), this.controller].filter((d): d is Daemon => d !== undefined);
      await Promise.all(clients.map((d) => d.stop(2000)));
      // A BIRD node's agent stops its bird; one that had to be SIGKILLed leaves it behind.
      this.killRunBirds();
      await this.tor?.stop().catch(() => undefined);
      await this.kit.destroy();
    } finally {
      if (this.tor) rmSync(this.tor.dir, { recursive: true, force: true });
      rmSync(this.tmp, { recursive: true, force: true });
      this.removeHook();
    }
  }
}
