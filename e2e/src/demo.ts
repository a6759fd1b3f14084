/**
 * `make demo-one-rack`: the one-rack lab, narrated. Three
 * nodes (two on GoBGP, node-3 on BIRD) and a top-of-rack router come up,
 * pods get addresses and routes,
 * they ping each other, terracectl shows what the cluster knows, the ToR
 * shows what it learned over BGP, and everything is torn down again.
 */
import { TerraceLab } from './lab.js';
import { ETCD_URL, POOL_A, POOL_B, TOR_IP, nodeIp } from './plan.js';
import { elapsedS, indent, runDemo, say, step, tearDown } from './narrate.js';
import { runIn } from './proc.js';

async function ctl(lab: TerraceLab, args: string[]): Promise<void> {
  process.stdout.write(`\n  $ terracectl ${args.join(' ')}\n`);
  const r = await lab.ctl(args);
  process.stdout.write(`${indent(r.code === 0 ? r.stdout : `(exit ${r.code}) ${r.stderr}`)}\n`);
}

async function pingShow(lab: TerraceLab, fromPod: string, toPod: string, what: string): Promise<void> {
  const from = lab.pod(fromPod);
  const to = lab.pod(toPod);
  await lab.waitPing(from.ns, to.ip, 20000);
  const r = await runIn(from.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', '-n', to.ip]);
  const summary = r.stdout.split('\n').filter((l) => /packets transmitted|rtt/.test(l));
  say(`${what}: ${fromPod} (${from.ip}, ${from.node}) → ${toPod} (${to.ip}, ${to.node})`);
  process.stdout.write(`${indent(summary.join('\n'))}\n`);
  if (r.code !== 0) throw new Error(`ping ${fromPod} → ${toPod} failed:\n${r.stdout}${r.stderr}`);
}

async function main(): Promise<number> {
  step('Building the lab: every host is a network namespace');
  say(`fabric: a bridge with etcd at ${ETCD_URL}; ToR at ${TOR_IP}; nodes at ${nodeIp(1)}, ${nodeIp(2)}, ${nodeIp(3)}`);
  say('node-1 and node-2 run terrace-agent driving a gobgpd sidecar; node-3 runs a BIRD sidecar and terrace-agent with --bgp-backend bird driving it');
  say('pods are namespaces wired by the real terrace-cni plugin');
  const lab = await TerraceLab.start({ nodes: 3, birdNodes: [3], log: say });
  let ok = false;
  try {
    step('Creating pods the way a container runtime does (CNI ADD through bin/terrace-cni)');
    const plan: [string, string, string[]?][] = [
      ['node-1', 'web-1'],
      ['node-1', 'web-2'],
      ['node-2', 'api-1'],
      ['node-3', 'db-1', [POOL_B.name]],
    ];
    for (const [node, name, pools] of plan) {
      const p = await lab.addPod(node, name, pools ? { pools } : {});
      say(`pod ${name} on ${node}: ${p.ip}/32 from pool ${pools?.[0] ?? POOL_A.name}, default route via 169.254.1.1 (CNI ADD took ${Math.round(p.addMs)} ms)`);
    }
    say('each node claimed a block for its pods and announced it over BGP to the other nodes and the ToR');

    step('Pods talk to each other over plain routes, no overlay');
    await pingShow(lab, 'web-1', 'api-1', 'across nodes');
    await pingShow(lab, 'api-1', 'db-1', 'across nodes, into a block of the second pool');
    await pingShow(lab, 'web-1', 'web-2', 'on the same node');

    step('What the cluster knows (terracectl reads etcd, run inside the fabric namespace)');
    await ctl(lab, ['get', 'nodes']);
    await ctl(lab, ['ipam', 'show']);
    await ctl(lab, ['ipam', 'show', '--show-blocks']);
    await ctl(lab, ['node', 'status']);

    step('What the top-of-rack router learned over BGP');
    const tor = lab.tor;
    if (tor) {
      process.stdout.write('\n  tor# show ip route bgp\n');
      const table = await tor.vtysh('show ip route bgp');
      process.stdout.write(`${indent(table.split('\n').filter((l) => /^B|^\s+\*/.test(l)).join('\n'))}\n`);
    }
    process.stdout.write('\n  $ ip -n tor route show proto bgp\n');
    process.stdout.write(`${indent(await lab.routeTable(lab.torNs, 'bgp'))}\n`);
    say('every block is reachable from the ToR, routed via the node that owns it: nodes announce only the blocks they own, never what they learned from each other');

    process.stdout.write('\n  tor# show bfd peers brief   (BFD, 100 ms × 3, towards every node)\n');
    if (tor) process.stdout.write(`${indent(await tor.vtysh('show bfd peers brief'))}\n`);

    step('The GoBGP node and the BIRD node write learned routes differently');
    process.stdout.write(`\n  $ ip -n node-1 route   (GoBGP node: learned routes written by the agent, protocol "terrace")\n`);
    process.stdout.write(`${indent(await lab.routeTable(lab.node('node-1').ns))}\n`);
    process.stdout.write(`\n  $ ip -n node-3 route show proto bird   (BIRD node: BIRD's kernel protocol writes them, metric 32)\n`);
    process.stdout.write(`${indent(await lab.routeTable(lab.node('node-3').ns, 'bird'))}\n`);
    say('node-3\'s agent keeps only its blackhole and pod routes; everything it learned over BGP is BIRD\'s own');
    ok = true;
  } finally {
    await tearDown(lab, ok);
  }
  say(`done in ${elapsedS()} s`);
  return 0;
}

runDemo(main);
