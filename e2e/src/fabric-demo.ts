/**
 * `make demo`: the fabric, narrated. Two racks of dual-homed nodes (two ToRs
 * per rack, a spine; node-2 and node-4 on BIRD, the others on GoBGP) come
 * up, pods get an IPv4 and an IPv6 address, they ping across racks over
 * both families, the nodes show their ECMP routes over both uplinks, ToR A
 * of rack 1 loses power while a pod pings across it, and everything is torn
 * down again.
 */
import { FabricLab, torName, type FabricPod } from './fabric.js';
import { pingsDuring } from './hosts.js';
import { elapsedS, indent, runDemo, say, step, tearDown } from './narrate.js';
import { FABRIC_POOL_V6, POOL_A } from './plan.js';
import { mustRunIn, runIn, waitUntil } from './proc.js';

async function show(ns: string, title: string, cmd: string, args: string[], keep: (line: string) => boolean = () => true): Promise<void> {
  process.stdout.write(`\n  $ ${title}\n`);
  const text = await mustRunIn(ns, cmd, args);
  process.stdout.write(`${indent(text.split('\n').filter(keep).join('\n'))}\n`);
}

async function pingShow(from: FabricPod, to: FabricPod, family: 4 | 6): Promise<void> {
  const ip = family === 4 ? to.ip : to.ip6;
  const r = await runIn(from.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', '-n', ip]);
  const summary = r.stdout.split('\n').find((l) => /packets transmitted/.test(l)) ?? '';
  say(`IPv${family}: ${from.name} (${from.node}) → ${to.name} (${to.node}) ${ip}: ${summary}`);
  if (r.code !== 0) throw new Error(`ping ${from.name} → ${ip} failed:\n${r.stdout}${r.stderr}`);
}

async function main(): Promise<number> {
  step('Building the fabric: every host, ToR and plane is a network namespace');
  say('rack 1: node-1, node-2 behind tor-r1a and tor-r1b; rack 2: node-3, node-4 behind tor-r2a and tor-r2b; a spine joins the four ToRs');
  say('every node has two uplinks (eth-a to its rack\'s plane A, eth-b to plane B), its address on the loopback, and a management link for etcd only');
  const lab = await FabricLab.start({ racks: 2, nodesPerRack: 2, birdNodes: [2, 4], log: say });
  let ok = false;
  try {
    step('Pods get an IPv4 and an IPv6 address (CNI ADD through bin/terrace-cni)');
    const pods: FabricPod[] = [];
    for (const n of lab.nodes.values()) {
      const p = await lab.addPod(n.name, `web-${n.index}`);
      pods.push(p);
      say(`pod ${p.name} on ${n.name} (${n.backend}): ${p.ip} from ${POOL_A.cidr}, ${p.ip6} from ${FABRIC_POOL_V6.cidr}`);
    }
    const [p1, p2, p3, p4] = pods as [FabricPod, FabricPod, FabricPod, FabricPod];
    await waitUntil('routes everywhere', async () => (await runIn(p1.ns, 'ping', ['-c', '1', '-W', '1', p4.ip6])).code === 0, 30000, 200);

    step('Pods ping each other across racks and within a rack, over IPv4 and IPv6');
    await pingShow(p1, p3, 4);
    await pingShow(p1, p3, 6);
    await pingShow(p4, p2, 6);
    await pingShow(p2, p1, 4);

    step('Each node reaches the other nodes\' blocks over both uplinks (ECMP)');
    const n1 = lab.node('node-1');
    const n4 = lab.node('node-4');
    const learned = (l: string): boolean => /proto (terrace|bird)|nexthop/.test(l) && !/blackhole| dev tr/.test(l);
    await show(n1.ns, 'ip -n node-1 -4 route   (GoBGP node: the agent writes what gobgpd learned, proto terrace)', 'ip', ['-4', 'route'], learned);
    await show(n4.ns, 'ip -n node-4 -6 route   (BIRD node: BIRD\'s kernel protocol writes them, proto bird)', 'ip', ['-6', 'route'], learned);
    say('rack-local blocks go straight to the neighbour node on each plane; remote ones via both ToRs');

    step('What the routers learned over BGP');
    await show(lab.tor(1, 'a').ns, `ip -n ${torName(1, 'a')} -6 route show proto bgp   (rack 1's blocks from their nodes, rack 2's from the spine)`, 'ip', ['-6', 'route', 'show', 'proto', 'bgp']);
    await show(lab.spine!.ns, 'ip -n spine -4 route show proto bgp   (the spine balances over both ToRs of each rack)', 'ip', ['-4', 'route', 'show', 'proto', 'bgp']);
    process.stdout.write('\n  $ terracectl node status\n');
    process.stdout.write(`${indent((await lab.mustCtl(['node', 'status'])).split('\n').filter((l) => /^Node|Established|^\s*PEER|^\s*ADDRESS/.test(l)).join('\n'))}\n`);

    step(`${torName(1, 'a')} loses power while ${p3.name} pings ${p1.name} every 10 ms`);
    let fallbackMs = 0;
    const r = await pingsDuring(p3.ns, p1.ip, async () => {
      const t0 = Date.now();
      await lab.killTor(1, 'a');
      say(`${torName(1, 'a')}: links cut, FRR killed; node-2 (BIRD) notices through BIRD's BFD, node-1 (GoBGP) through its agent's (100 ms × 3)`);
      await waitUntil('rack 1 off plane A', async () => !(await runIn(n1.ns, 'ip', ['-4', 'route'])).stdout.includes('dev eth-a weight'), 30000, 50);
      fallbackMs = Date.now() - t0;
    }, 2000);
    say(`node-1 dropped the dead next hop after ${fallbackMs} ms; ${r.transmitted} echoes, ${r.lost} lost, longest gap ${r.longestGapMs} ms`);
    await show(n1.ns, 'ip -n node-1 -4 route   (only eth-b left)', 'ip', ['-4', 'route'], learned);
    await pingShow(p3, p1, 6);
    ok = true;
  } finally {
    await tearDown(lab, ok);
  }
  say(`done in ${elapsedS()} s`);
  return 0;
}

runDemo(main);
