/**
 * One cluster of the two-cluster lab (multicluster.ts): its fabric bridge
 * with etcd (authentication on) and terrace-controller on it, an FRR ToR,
 * and nodes, each a GoBGP or a BIRD node, all in the run's testkit lab, so
 * the pair's teardown removes everything. A cluster of the shared-etcd
 * variant has no etcd of its own: its daemons use the other cluster's, under
 * their own key prefix.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFrr, startLabEtcd, type Daemon, type FrrRouter, type Lab } from '@terrace/testkit';
import { addPodThroughCni, callCni, CniFailure, cniStateDir, resultIPv4, type CniOutcome } from './cni.js';
import type { EtcdCredential } from './etcd-auth.js';
import { speakerEstablished, spawnGobgpd, startBirdSidecar, writeInitialBirdConf } from './hosts.js';
import type { LabNode, LabPod } from './lab.js';
import { poolManifest } from './manifests.js';
import { GATEWAY_LABEL, INTERCONNECT_PREFIX_LEN, type ClusterPlan } from './multicluster-plan.js';
import { GOBGP_API, KEEPALIVE } from './plan.js';
import { BIN, cleanEnv, mustRunIn, runIn, waitUntil, type RunResult } from './proc.js';

export interface ClusterNodeSpec {
  /** 1-based; the node is plan.nodeName(n) at plan.nodeIp(n). */
  n: number;
  backend: 'gobgp' | 'bird';
  /** A gateway: labelled for the RemoteClusters' selectors and wired to the interconnect. */
  gateway?: boolean;
}

export interface MultiClusterNode extends LabNode {
  gateway: boolean;
  /** The node's interconnect address (gateways only). */
  interconnectIp?: string;
}

export class LabCluster {
  readonly nodes = new Map<string, MultiClusterNode>();
  readonly pods = new Map<string, LabPod>();
  tor: FrrRouter | undefined;
  controller: Daemon | undefined;
  etcd: Daemon | undefined;
  /** The etcd root user the cluster's own daemons and terracectl use. */
  root: EtcdCredential | undefined;

  constructor(
    readonly plan: ClusterPlan,
    readonly kit: Lab,
    readonly fabricNs: string,
    readonly tmp: string,
    /** The etcd this cluster's keys live in (its own, or the other cluster's in the shared variant). */
    readonly etcdUrl: string,
    /** The namespace that etcd runs in. */
    readonly etcdNs: string,
    readonly cniPath: string,
    private readonly log: (line: string) => void,
  ) {}

  get name(): string {
    return this.plan.name;
  }

  get torNs(): string {
    return this.kit.nsName(`${this.plan.key}-tor`);
  }

  /** The controller's --secrets-dir: `<dir>/<secret>/<key>`, as a mounted Kubernetes secret. */
  get secretsDir(): string {
    return join(this.tmp, 'controller-secrets');
  }

  /** Environment for this cluster's daemons and terracectl: the etcd user without putting the password on a command line. */
  env(): NodeJS.ProcessEnv {
    return cleanEnv(this.root ? { TERRACE_ETCD_USERNAME: this.root.username, TERRACE_ETCD_PASSWORD: this.root.password } : {});
  }

  /** Starts this cluster's own etcd on its fabric bridge (tracked by PID by the kit). */
  async startEtcd(): Promise<Daemon> {
    this.etcd = await startLabEtcd(this.kit, this.fabricNs, this.plan.etcdIp, join(this.tmp, 'etcd'));
    return this.etcd;
  }

  /** Stops this cluster's etcd (SIGTERM by PID); its data stays for startEtcd(). */
  async stopEtcd(): Promise<void> {
    await this.etcd?.stop(5000);
    this.etcd = undefined;
  }

  /** Writes a secret key for the controller (mode 0600). */
  writeSecret(secret: string, key: string, value: string): void {
    const dir = join(this.secretsDir, secret);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, key), value, { mode: 0o600 });
  }

  startController(): Daemon {
    mkdirSync(this.secretsDir, { recursive: true, mode: 0o700 });
    this.controller = this.kit.startDaemon(this.fabricNs, {
      name: `terrace-controller@${this.name}`,
      command: process.execPath,
      args: [
        BIN.controller,
        '--etcd-endpoints', this.etcdUrl,
        '--cluster', this.name,
        '--node-grace', '30s',
        '--interval', '1s',
        '--identity', `${this.name}-controller`,
        '--secrets-dir', this.secretsDir,
        '--log-format', 'json',
        '--metrics-listen', 'off',
      ],
      env: this.env(),
      keepOutput: 400000,
    });
    return this.controller;
  }

  async stopController(): Promise<void> {
    await this.controller?.stop(5000);
    this.controller = undefined;
  }

  /** The ToR, with a neighbor for each of these node numbers. */
  async startTor(nodeNumbers: readonly number[]): Promise<void> {
    const ns = await this.kit.addNamespace(`${this.plan.key}-tor`);
    await this.kit.connect(ns, this.fabricNs, `${this.plan.torIp}/${this.plan.fabricPrefixLen}`);
    this.tor = await startFrr(this.kit, ns, {
      hostname: `tor-${this.plan.key}`,
      asn: this.plan.torAsn,
      routerId: this.plan.torIp,
      gracefulRestart: false,
      neighbors: nodeNumbers.map((n) => ({ address: this.plan.nodeIp(n), asn: this.plan.nodeAsn, keepalive: 1, hold: 3, description: this.plan.nodeName(n) })),
    });
    this.log(`${this.name}: FRR runs the ToR at ${this.plan.torIp} (AS ${this.plan.torAsn})`);
  }

  /** terracectl against this cluster (its etcd, its prefix), run in its fabric namespace. */
  ctl(args: readonly string[], input?: string): Promise<RunResult> {
    return runIn(this.fabricNs, process.execPath, [BIN.ctl, '--etcd-endpoints', this.etcdUrl, '--cluster', this.name, ...args], {
      env: this.env(),
      ...(input === undefined ? {} : { input }),
    });
  }

  async mustCtl(args: readonly string[], input?: string): Promise<string> {
    const r = await this.ctl(args, input);
    if (r.code !== 0) throw new Error(`${this.name}: terracectl ${args.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
  }

  async apply(yaml: string): Promise<void> {
    await this.mustCtl(['apply', '-f', '-'], yaml);
  }

  node(name: string): MultiClusterNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`${this.name}: no node ${name}`);
    return n;
  }

  /**
   * Node `spec.n`: namespace on the fabric (and the interconnect, for a
   * gateway), its speaker and its agent. `etcdVia`: the router's address on
   * this fabric when the cluster's etcd sits on the other fabric (the
   * shared-etcd variant), so the node routes there before its agent starts.
   */
  async addNode(spec: ClusterNodeSpec, interconnectNs: string, etcdVia?: { net: string; via: string }): Promise<MultiClusterNode> {
    const name = this.plan.nodeName(spec.n);
    const ns = await this.kit.addNamespace(`${this.plan.key}-n${spec.n}`);
    const ip = this.plan.nodeIp(spec.n);
    await this.kit.connect(ns, this.fabricNs, `${ip}/${this.plan.fabricPrefixLen}`, { ifname: 'eth0' });
    if (etcdVia) await mustRunIn(ns, 'ip', ['route', 'add', etcdVia.net, 'via', etcdVia.via]);
    const dir = join(this.tmp, name);
    mkdirSync(dir, { recursive: true });
    const gateway = spec.gateway === true;
    const base = { name, index: spec.n, ns, ip, socket: join(dir, 'cni.sock'), agent: undefined, gateway };
    const node: MultiClusterNode =
      spec.backend === 'bird'
        ? { ...base, backend: 'bird', gobgpd: undefined, birdDir: join(dir, 'bird') }
        : { ...base, backend: 'gobgp', gobgpd: spawnGobgpd(this.kit, name, ns) };
    if (gateway) {
      node.interconnectIp = this.plan.interconnectIp(spec.n);
      await this.kit.connect(ns, interconnectNs, `${node.interconnectIp}/${INTERCONNECT_PREFIX_LEN}`, { ifname: 'ic' });
    }
    this.nodes.set(name, node);
    if (node.birdDir) {
      mkdirSync(node.birdDir, { recursive: true });
      writeInitialBirdConf(node.birdDir, ip);
      node.bird = await startBirdSidecar(this.kit, ns, name, node.birdDir);
    }
    await this.startAgent(node);
    this.log(`${this.name}: ${name} at ${ip}, ${node.backend === 'bird' ? 'a BIRD' : 'a gobgpd'} sidecar driven by terrace-agent${gateway ? `; gateway, ${node.interconnectIp} on the interconnect` : ''}`);
    return node;
  }

  async startAgent(node: MultiClusterNode): Promise<Daemon> {
    const argv = [
      BIN.agent,
      '--node-name', node.name,
      '--node-ip', node.ip,
      '--labels', `lab-node=${this.plan.key}${node.index}${node.gateway ? `,${GATEWAY_LABEL}=true` : ''}`,
      ...(node.backend === 'bird' ? ['--bgp-backend', 'bird', '--bird-dir', node.birdDir as string, '--bird-sidecar'] : ['--gobgp-address', GOBGP_API]),
      '--etcd-endpoints', this.etcdUrl,
      '--cluster', this.name,
      '--cni-socket', node.socket,
      '--cni-state-dir', cniStateDir(node.socket),
      '--lease-ttl', '3s',
      '--status-interval', '2s',
      '--log-format', 'json',
      '--metrics-listen', 'off',
    ];
    const agent = this.kit.startDaemon(node.ns, { name: `terrace-agent@${node.name}`, command: process.execPath, args: argv, env: this.env(), keepOutput: 400000 });
    node.agent = agent;
    await waitUntil(`terrace-agent on ${node.name}`, () => {
      if (!agent.running()) throw new Error(`terrace-agent on ${node.name} exited: ${agent.output().slice(-3000)}`);
      return agent.output().includes('"agent running"') && existsSync(node.socket);
    }, 60000, 50);
    return agent;
  }

  /** Waits until the ToR has a session with every node and every node with every other (the mesh). */
  async waitSessions(timeoutMs = 60000): Promise<void> {
    const tor = this.tor;
    if (!tor) throw new Error(`${this.name}: no ToR`);
    const nodes = [...this.nodes.values()];
    let missing: string[] = [];
    try {
      await waitUntil(`${this.name}'s BGP sessions`, async () => {
        missing = [];
        const seen = await tor.neighbors(4).catch(() => ({}) as Record<string, { state: string }>);
        for (const n of nodes) if (seen[n.ip]?.state !== 'Established') missing.push(`tor→${n.name}`);
        for (const n of nodes) {
          const up = await speakerEstablished(n);
          for (const o of nodes) if (o !== n && !up.has(o.ip)) missing.push(`${n.name}→${o.name}`);
        }
        return missing.length === 0;
      }, timeoutMs, 250);
    } catch (e) {
      throw new Error(`${(e as Error).message}; not Established: ${missing.join(', ')}\n${this.diagnostics()}`);
    }
  }

  /** A pod on `nodeName` through the real plugin, from the cluster's pool unless `pools` says otherwise. */
  async addPod(nodeName: string, name: string, opts: { pools?: readonly string[] } = {}): Promise<LabPod> {
    const node = this.node(nodeName);
    const { ns, containerId, out, result } = await addPodThroughCni(this.kit, name, {
      nodeNs: node.ns,
      cniPath: this.cniPath,
      agentSocket: node.socket,
      ipv4Pools: opts.pools ?? [this.plan.pool.name],
    });
    const pod: LabPod = { name, node: nodeName, ns, containerId, ip: resultIPv4(result), result, addMs: out.ms };
    this.pods.set(name, pod);
    return pod;
  }

  pod(name: string): LabPod {
    const p = this.pods.get(name);
    if (!p) throw new Error(`${this.name}: no pod ${name}`);
    return p;
  }

  async deletePod(name: string): Promise<CniOutcome> {
    const pod = this.pod(name);
    const node = this.node(pod.node);
    const out = await callCni({ command: 'DEL', nodeNs: node.ns, cniPath: this.cniPath, agentSocket: node.socket, containerId: pod.containerId, podNs: pod.ns, podName: pod.name, prevResult: pod.result });
    if (out.code !== 0) throw new CniFailure('DEL', out);
    await this.kit.removeNamespace(pod.ns);
    this.pods.delete(name);
    return out;
  }

  /** IPv4 routes in a namespace (of one protocol, when given). */
  async routeTable(ns: string, proto?: string): Promise<string> {
    return mustRunIn(ns, 'ip', ['-4', 'route', 'show', ...(proto ? ['proto', proto] : [])]);
  }

  /** Agents, then the controller: stopped (by PID) while etcd still answers their goodbyes. */
  async stopClients(): Promise<void> {
    const clients = [...[...this.nodes.values()].map((n) => n.agent), this.controller].filter((d): d is Daemon => d !== undefined);
    await Promise.all(clients.map((d) => d.stop(2000)));
  }

  diagnostics(): string {
    const parts: string[] = [];
    for (const n of this.nodes.values()) if (n.agent) parts.push(`--- ${this.name} ${n.agent.name}\n${n.agent.output().slice(-2000)}`);
    if (this.controller) parts.push(`--- ${this.name} controller\n${this.controller.output().slice(-3000)}`);
    return parts.join('\n');
  }
}

/** The manifests one cluster starts with: its AS and BGP settings, its ToR, its pool. */
export function clusterManifests(plan: ClusterPlan): string {
  return [
    [
      'apiVersion: terrace.dev/v1',
      'kind: BGPConfiguration',
      'metadata:',
      '  name: default',
      'spec:',
      `  asNumber: ${plan.nodeAsn}`,
      '  nodeToNodeMeshEnabled: true',
      `  keepaliveTime: ${KEEPALIVE}`,
      // Routes must go as soon as a session does (the scenarios watch withdrawals).
      '  nodeMeshMaxRestartTime: 0s',
      '',
    ].join('\n'),
    [
      'apiVersion: terrace.dev/v1',
      'kind: BGPPeer',
      'metadata:',
      '  name: tor',
      'spec:',
      `  peerIP: ${plan.torIp}`,
      `  asNumber: ${plan.torAsn}`,
      `  keepaliveTime: ${KEEPALIVE}`,
      '  maxRestartTime: 0s',
      '',
    ].join('\n'),
    poolManifest(plan.pool),
  ].join('---\n');
}
