/**
 * The two-cluster lab (address plan in multicluster-plan.ts):
 *
 *   <p>a-fab, b-fab  each cluster's fabric bridge: its etcd (authentication
 *                    on) and terrace-controller on the bridge at .2
 *   <p>a-tor, b-tor  each cluster's FRR ToR (AS 65000 / 65001), a neighbor per node
 *   <p>a-nN, b-nN    nodes (GoBGP or BIRD; AS 64512 in A, 64513 in B, node mesh);
 *                    gateway nodes also have `ic` on the interconnect
 *   <p>rtr           the router: one leg on each fabric (.254), forwarding between
 *                    them so each controller reaches the other cluster's etcd; it
 *                    also holds the interconnect bridge, where the gateways of both
 *                    clusters peer single-hop eBGP with each other
 *
 * Each etcd has a root user (the cluster's own daemons) and a reader for the
 * other cluster's controller that may only read this cluster's prefix; the
 * reader's username and password sit in the other controller's
 * --secrets-dir, and each cluster gets a RemoteCluster for the other that
 * names them by reference. `sharedEtcd`: one etcd (cluster A's) holds both
 * clusters under their two prefixes.
 *
 * As in TerraceLab, every process runs in a lab namespace and is tracked by
 * PID; `destroy()` (also on process exit) removes everything.
 */
import { startOrTearDown } from './lab-start.js';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterFence, RemoteClusterState } from '@terrace/api';
import { Keys } from '@terrace/datastore';
import { createLab, onProcessExit, type Lab } from '@terrace/testkit';
import { addRemoteReader, enableEtcdAuth, etcdctl, type EtcdCredential } from './etcd-auth.js';
import { killBirdsOn } from './hosts.js';
import { clusterManifests, LabCluster, type ClusterNodeSpec } from './multicluster-cluster.js';
import {
  CLUSTER_KEYS,
  clusterPlan,
  GATEWAY_IPV4_ANNOTATION,
  GATEWAY_LABEL,
  GATEWAY_SELECTOR,
  INTERCONNECT_PREFIX_LEN,
  INTERCONNECT_ROUTER_IP,
  otherCluster,
  readerRole,
  readerUser,
  remoteSecretName,
  type ClusterKey,
} from './multicluster-plan.js';
import { BIN, mustRunIn, waitUntil } from './proc.js';
import { applyAtOnce, type RaceOutcome } from './race-apply.js';

export interface MultiClusterOptions {
  /** Nodes of each cluster (default: A node-a1 GoBGP gateway, node-a2 BIRD; B node-b1 BIRD gateway, node-b2 GoBGP). */
  nodes?: Partial<Record<ClusterKey, readonly ClusterNodeSpec[]>>;
  /** One etcd (cluster A's) for both clusters, under their two prefixes. */
  sharedEtcd?: boolean;
  /** Start each cluster's terrace-controller (default true). */
  controllers?: boolean;
  /** Apply each cluster's RemoteCluster for the other (default true). */
  remotes?: boolean;
  /** The RemoteClusters' staleAfter (default 10s). */
  staleAfter?: string;
  log?: (line: string) => void;
}

export const DEFAULT_MULTICLUSTER_NODES: Record<ClusterKey, readonly ClusterNodeSpec[]> = {
  a: [
    { n: 1, backend: 'gobgp', gateway: true },
    { n: 2, backend: 'bird' },
  ],
  b: [
    { n: 1, backend: 'bird', gateway: true },
    { n: 2, backend: 'gobgp' },
  ],
};

/** A gateway's Node before its agent registers: the label the selectors pick and the address remote gateways peer with. */
export function gatewayNodeManifest(name: string, interconnectIp: string): string {
  return [
    'apiVersion: terrace.dev/v1',
    'kind: Node',
    'metadata:',
    `  name: ${name}`,
    '  labels:',
    `    ${GATEWAY_LABEL}: "true"`,
    '  annotations:',
    `    ${GATEWAY_IPV4_ANNOTATION}: "${interconnectIp}"`,
    'spec: {}',
    '',
  ].join('\n');
}

/** The RemoteCluster a cluster keeps for `remote`: its etcd, the reader's credential by reference, the gateways on both sides. */
export function remoteClusterManifest(remote: ClusterKey, etcdUrl: string, staleAfter: string): string {
  const plan = clusterPlan(remote);
  const secret = remoteSecretName(remote);
  return [
    'apiVersion: terrace.dev/v1',
    'kind: RemoteCluster',
    'metadata:',
    `  name: ${plan.name}`,
    'spec:',
    `  clusterName: ${plan.name}`,
    '  etcd:',
    `    endpoints: ["${etcdUrl}"]`,
    `    usernameSecretRef: { name: ${secret}, key: username }`,
    `    passwordSecretRef: { name: ${secret}, key: password }`,
    `  gatewayNodeSelector: "${GATEWAY_SELECTOR}"`,
    `  remoteGatewaySelector: "${GATEWAY_SELECTOR}"`,
    `  staleAfter: ${staleAfter}`,
    '',
  ].join('\n');
}

export class MultiClusterLab {
  readonly clusters: Record<ClusterKey, LabCluster>;
  /** The reader credential each cluster's controller uses on the other's etcd (keyed by the reading cluster). */
  readonly readers = new Map<ClusterKey, EtcdCredential>();
  private readonly removeHook: () => void;
  private destroyed = false;

  private constructor(
    readonly kit: Lab,
    readonly routerNs: string,
    readonly tmp: string,
    readonly sharedEtcd: boolean,
    readonly staleAfter: string,
    fabrics: Record<ClusterKey, string>,
    private readonly log: (line: string) => void,
  ) {
    const cniPath = join(tmp, 'cni-bin');
    const make = (key: ClusterKey): LabCluster => {
      const plan = clusterPlan(key);
      const home = sharedEtcd ? 'a' : key;
      const dir = join(tmp, plan.name);
      mkdirSync(dir, { recursive: true });
      return new LabCluster(plan, kit, fabrics[key], dir, clusterPlan(home).etcdUrl, fabrics[home], cniPath, log);
    };
    this.clusters = { a: make('a'), b: make('b') };
    this.removeHook = onProcessExit(() => {
      this.killRunBirds();
      for (const c of Object.values(this.clusters)) if (c.tor) rmSync(c.tor.dir, { recursive: true, force: true });
      rmSync(this.tmp, { recursive: true, force: true });
    });
  }

  get a(): LabCluster {
    return this.clusters.a;
  }
  get b(): LabCluster {
    return this.clusters.b;
  }

  /** Builds both clusters; on any failure everything is torn down before the error is rethrown. */
  static async start(opts: MultiClusterOptions = {}): Promise<MultiClusterLab> {
    const kit = await createLab({ tag: 'tm' });
    const tmp = mkdtempSync(join(tmpdir(), `terrace-mc-${kit.prefix}`));
    const log = opts.log ?? (() => undefined);
    return startOrTearDown(
      kit,
      tmp,
      async () => {
        // The router's namespace holds the interconnect bridge.
        const routerNs = await kit.addBridge('rtr');
        await mustRunIn(routerNs, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
        await kit.addAddress(routerNs, 'br0', `${INTERCONNECT_ROUTER_IP}/${INTERCONNECT_PREFIX_LEN}`);
        const fabrics = { a: await kit.addBridge('a-fab'), b: await kit.addBridge('b-fab') };
        mkdirSync(join(tmp, 'cni-bin'));
        symlinkSync(BIN.cni, join(tmp, 'cni-bin', 'terrace'));
        return new MultiClusterLab(kit, routerNs, tmp, opts.sharedEtcd ?? false, opts.staleAfter ?? '10s', fabrics, log);
      },
      (lab) => lab.build(opts),
    );
  }

  private async build(opts: MultiClusterOptions): Promise<void> {
    const specs = { ...DEFAULT_MULTICLUSTER_NODES, ...(opts.nodes ?? {}) };
    for (const key of CLUSTER_KEYS) await this.wireFabric(key);
    await this.startEtcds();
    for (const key of CLUSTER_KEYS) {
      const c = this.clusters[key];
      const gateways = specs[key].filter((s) => s.gateway).map((s) => gatewayNodeManifest(c.plan.nodeName(s.n), c.plan.interconnectIp(s.n)));
      await c.apply([clusterManifests(c.plan), ...gateways].join('---\n'));
      this.log(`${c.name}: AS ${c.plan.nodeAsn}, pool ${c.plan.pool.cidr}, the ToR peer${gateways.length ? ' and the gateway Nodes' : ''} applied (key prefix /terrace/v1/${c.name}/)`);
      await c.startTor(specs[key].map((s) => s.n));
      if (opts.controllers ?? true) c.startController();
    }
    await Promise.all(CLUSTER_KEYS.map(async (key) => {
      const c = this.clusters[key];
      // A node of the shared variant's cluster B reaches the one etcd through the router.
      const etcdVia = this.sharedEtcd && key === 'b' ? { net: clusterPlan('a').fabricNet, via: c.plan.routerIp } : undefined;
      for (const s of specs[key]) await c.addNode(s, this.routerNs, etcdVia);
    }));
    await Promise.all(CLUSTER_KEYS.map((key) => this.clusters[key].waitSessions()));
    this.log('each cluster: every node has a session with its ToR and with every other node');
    if (opts.remotes ?? true) await this.applyRemotes();
  }

  /** The router's leg on a fabric, and the fabric host's route to the other fabric through it. */
  private async wireFabric(key: ClusterKey): Promise<void> {
    const c = this.clusters[key];
    await this.kit.addAddress(c.fabricNs, 'br0', `${c.plan.etcdIp}/${c.plan.fabricPrefixLen}`);
    await this.kit.connect(this.routerNs, c.fabricNs, `${c.plan.routerIp}/${c.plan.fabricPrefixLen}`, { ifname: `fab-${key}` });
    await mustRunIn(c.fabricNs, 'ip', ['route', 'add', clusterPlan(otherCluster(key)).fabricNet, 'via', c.plan.routerIp]);
  }

  /** Each etcd with authentication on, and in each a reader for the other cluster's controller (its secret written there). */
  private async startEtcds(): Promise<void> {
    const homes: ClusterKey[] = this.sharedEtcd ? ['a'] : ['a', 'b'];
    for (const home of homes) {
      const c = this.clusters[home];
      await c.startEtcd();
      const root = await enableEtcdAuth(c.fabricNs, c.etcdUrl);
      for (const key of this.sharedEtcd ? CLUSTER_KEYS : [home]) this.clusters[key].root = root;
      this.log(`etcd for ${this.sharedEtcd ? 'both clusters' : c.name} at ${c.etcdUrl}, authentication on`);
    }
    for (const key of CLUSTER_KEYS) {
      const c = this.clusters[key];
      const reader = otherCluster(key);
      const root = c.root as EtcdCredential;
      const cred = await addRemoteReader(c.etcdNs, c.etcdUrl, root, c.name, readerUser(reader));
      this.readers.set(reader, cred);
      const secret = remoteSecretName(key);
      this.clusters[reader].writeSecret(secret, 'username', cred.username);
      this.clusters[reader].writeSecret(secret, 'password', cred.password);
      this.log(`${c.name}'s etcd: user ${cred.username} may only read ${new Keys(c.name).prefix} (role ${readerRole(key)}); ${clusterPlan(reader).name}'s controller has it as secret ${secret}`);
    }
  }

  /** Each cluster's RemoteCluster for the other. */
  async applyRemotes(): Promise<void> {
    for (const key of CLUSTER_KEYS) await this.applyRemote(key);
  }

  async applyRemote(local: ClusterKey): Promise<void> {
    const remote = otherCluster(local);
    await this.clusters[local].apply(remoteClusterManifest(remote, this.clusters[remote].etcdUrl, this.staleAfter));
    this.log(`${this.clusters[local].name}: RemoteCluster ${this.clusters[remote].name} applied`);
  }

  /**
   * Applies `yaml[a]` to cluster A and `yaml[b]` to cluster B at the same
   * moment (race-apply.ts), from the router, which reaches both etcds.
   */
  applyAtOnce(yaml: Record<ClusterKey, string>): Promise<RaceOutcome[]> {
    return applyAtOnce(
      this.routerNs,
      CLUSTER_KEYS.map((key) => ({ url: this.clusters[key].etcdUrl, cluster: this.clusters[key].name, cred: this.clusters[key].root, yaml: yaml[key] })),
    );
  }

  /** A JSON record under a cluster's prefix, read with etcdctl as that cluster's root; undefined when absent. */
  private async readJson<T>(key: ClusterKey, etcdKey: string): Promise<T | undefined> {
    const c = this.clusters[key];
    const r = await etcdctl(c.etcdNs, c.etcdUrl, ['get', etcdKey, '--print-value-only'], c.root);
    if (r.code !== 0) throw new Error(`etcdctl get ${etcdKey}: ${r.stderr.trim()}`);
    const text = r.stdout.trim();
    return text === '' ? undefined : (JSON.parse(text) as T);
  }

  /** The RemoteClusterState cluster `local` keeps for the other cluster. */
  remoteState(local: ClusterKey): Promise<RemoteClusterState | undefined> {
    const remote = clusterPlan(otherCluster(local)).name;
    return this.readJson<RemoteClusterState>(local, new Keys(this.clusters[local].name).remoteState(remote));
  }

  /** Cluster `key`'s fence record. */
  fence(key: ClusterKey): Promise<ClusterFence | undefined> {
    return this.readJson<ClusterFence>(key, new Keys(this.clusters[key].name).fence());
  }

  /** Waits until `check` holds for cluster `local`'s state doc of the other; the last doc seen goes into the error. */
  async waitRemoteState(local: ClusterKey, what: string, check: (s: RemoteClusterState) => boolean, timeoutMs = 60000): Promise<RemoteClusterState> {
    let last: RemoteClusterState | undefined;
    await waitUntil(`${this.clusters[local].name}: ${what}`, async () => {
      last = await this.remoteState(local);
      return last !== undefined && check(last);
    }, timeoutMs, 250).catch((e: Error) => {
      throw new Error(`${e.message}; last state: ${JSON.stringify(last)}\n${this.diagnostics()}`);
    });
    return last as RemoteClusterState;
  }

  private killRunBirds(): void {
    const socks: string[] = [];
    for (const c of Object.values(this.clusters)) for (const n of c.nodes.values()) if (n.birdDir) socks.push(join(n.birdDir, 'bird.ctl'));
    killBirdsOn(socks);
  }

  diagnostics(): string {
    return [this.a.diagnostics(), this.b.diagnostics()].join('\n');
  }

  /** Stops every daemon (by PID), deletes every namespace, removes the temporary directory. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    try {
      await Promise.all(Object.values(this.clusters).map((c) => c.stopClients()));
      this.killRunBirds();
      await Promise.all(Object.values(this.clusters).map((c) => c.tor?.stop().catch(() => undefined)));
      await this.kit.destroy();
    } finally {
      for (const c of Object.values(this.clusters)) if (c.tor) rmSync(c.tor.dir, { recursive: true, force: true });
      rmSync(this.tmp, { recursive: true, force: true });
      this.removeHook();
    }
  }
}
