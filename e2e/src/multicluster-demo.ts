/**
 * `make demo-multicluster`: the two-cluster lab, narrated. Clusters A and B
 * (each its own etcd, controller, ToR and two nodes, GoBGP and BIRD) come up
 * in fabrics joined by a router; each gets a RemoteCluster for the other;
 * pods in A ping pods in B and back over plain routes through the gateways;
 * a pool overlapping the other cluster's is refused; `terracectl cluster
 * status` shows what each side knows; everything is torn down again.
 */
import { waitForPing } from './hosts.js';
import type { LabPod } from './lab.js';
import { MultiClusterLab } from './multicluster.js';
import type { LabCluster } from './multicluster-cluster.js';
import { INTERCONNECT_NET } from './multicluster-plan.js';
import { poolManifest } from './manifests.js';
import { elapsedS, indent, runDemo, say, step, tearDown } from './narrate.js';
import { runIn } from './proc.js';

async function ctl(c: LabCluster, args: string[], input?: string): Promise<number | null> {
  process.stdout.write(`\n  ${c.name}$ terracectl ${args.join(' ')}\n`);
  const r = await c.ctl(args, input);
  process.stdout.write(`${indent(r.code === 0 ? r.stdout : `(exit ${r.code}) ${r.stderr}`)}\n`);
  return r.code;
}

async function pingShow(from: LabPod, to: LabPod, fromCluster: string, toCluster: string): Promise<void> {
  await waitForPing(from.ns, to.ip, 60000);
  const r = await runIn(from.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', '-n', to.ip]);
  const summary = r.stdout.split('\n').find((l) => /packets transmitted/.test(l)) ?? '';
  say(`${from.name} (${fromCluster}, ${from.node}, ${from.ip}) → ${to.name} (${toCluster}, ${to.node}, ${to.ip}): ${summary}`);
  if (r.code !== 0) throw new Error(`ping ${from.name} → ${to.name} failed:\n${r.stdout}${r.stderr}`);
}

async function main(): Promise<number> {
  step('Building two clusters: every host, ToR and fabric is a network namespace');
  say('cluster A: fabric 198.18.40.0/24, AS 64512, pool 198.19.0.0/18; node-a1 (GoBGP, gateway) and node-a2 (BIRD)');
  say('cluster B: fabric 198.18.50.0/24, AS 64513, pool 198.19.64.0/18; node-b1 (BIRD, gateway) and node-b2 (GoBGP)');
  say(`a router joins the fabrics; the gateways also sit on the interconnect ${INTERCONNECT_NET} and peer over eBGP there`);
  const lab = await MultiClusterLab.start({ log: say });
  let ok = false;
  try {
    step('Pods in both clusters (CNI ADD through bin/terrace-cni)');
    const pa1 = await lab.a.addPod('node-a1', 'web-a1');
    const pa2 = await lab.a.addPod('node-a2', 'web-a2');
    const pb1 = await lab.b.addPod('node-b1', 'web-b1');
    const pb2 = await lab.b.addPod('node-b2', 'web-b2');
    for (const p of [pa1, pa2, pb1, pb2]) say(`pod ${p.name} on ${p.node}: ${p.ip}`);

    step('Pods in A reach pods in B and back: plain routes, no overlay, no NAT');
    await pingShow(pa2, pb2, 'A', 'B');
    await pingShow(pb2, pa2, 'B', 'A');
    await pingShow(pa1, pb1, 'A', 'B');
    process.stdout.write(`\n  $ ip -n node-a2 route   (B's blocks learned from the gateway node-a1 over the mesh)\n`);
    process.stdout.write(`${indent(await lab.a.routeTable(lab.a.node('node-a2').ns))}\n`);
    process.stdout.write(`\n  $ ip -n node-b1 route   (the gateway: A's blocks via node-a1 on the interconnect)\n`);
    process.stdout.write(`${indent(await lab.b.routeTable(lab.b.node('node-b1').ns))}\n`);

    step('A pool that overlaps the other cluster\'s is refused');
    const refused = await ctl(lab.a, ['apply', '-f', '-'], poolManifest({ name: 'grab-b', cidr: '198.19.64.0/20', blockSize: 26 }));
    if (refused === 0) throw new Error('the overlapping pool was accepted');
    say('nothing was written: cluster A has no pool grab-b');

    step('What each cluster knows of the other (terracectl reads the local etcd only)');
    await ctl(lab.a, ['cluster', 'list']);
    await ctl(lab.a, ['cluster', 'status', 'cluster-b']);
    await ctl(lab.b, ['cluster', 'status', 'cluster-a']);
    ok = true;
  } finally {
    await tearDown(lab, ok);
  }
  say(`done in ${elapsedS()} s`);
  return 0;
}

runDemo(main);
