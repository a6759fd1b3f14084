/**
 * The process that owns a kept lab (`make lab`): it builds the one-rack lab
 * with a controller and three pods, records every namespace, daemon PID and
 * directory in `.lab/lab.json`, writes `.lab/env`, and then only waits. On
 * SIGUSR1 (`make lab-down`) it tears the lab down the way every test does and
 * exits; on SIGTERM, or if it dies, the testkit's exit hooks and lab-down's
 * sweep remove the rest. Arguments: the state directory and the prefix.
 */
import { join } from 'node:path';
import { TerraceLab } from '../lab.js';
import { CLUSTER, POOL_B, STATUS_URL, TOR_IP } from '../plan.js';
import { ENV_FILE, LAB_FILE, record, renderEnv, writeAtomically, type KeptLab, type RecordedProcess } from './state.js';

const [dir, prefix] = process.argv.slice(2);
const say = (line: string): void => {
  process.stdout.write(`${new Date().toISOString()}  ${line}\n`);
};

/** The lab's layout as `.lab/` records it; the URLs are the ones the lab gave its daemons. */
function describe(lab: TerraceLab): KeptLab {
  const tor = lab.tor;
  if (!tor) throw new Error('the lab has no ToR');
  const nodes = [...lab.nodes.values()].sort((a, b) => a.index - b.index);
  const daemons: RecordedProcess[] = [
    record('etcd', lab.etcdPid),
    ...[tor.zebra, tor.bgpd, ...(tor.bfdd ? [tor.bfdd] : [])].map((d) => record(d.name, d.pid)),
    ...(lab.controller ? [record(lab.controller.name, lab.controller.pid)] : []),
    ...nodes.flatMap((n) => [n.agent, n.gobgpd, n.bird].filter((d) => d !== undefined).map((d) => record(d.name, d.pid))),
  ];
  return {
    prefix: lab.kit.prefix,
    fabricNs: lab.fabricNs,
    etcdEndpoints: lab.etcdEndpoints,
    cluster: CLUSTER,
    tor: { ns: lab.torNs, ip: TOR_IP, vtyDir: tor.dir },
    nodes: nodes.map((n) => ({ name: n.name, ns: n.ns, ip: n.ip, backend: n.backend, ...(n.birdDir ? { birdCtl: join(n.birdDir, 'bird.ctl') } : {}) })),
    pods: [...lab.pods.values()].map((p) => ({ name: p.name, node: p.node, ns: p.ns, ip: p.ip })),
    statusUrl: STATUS_URL,
    metricsUrls: [...nodes.map((n) => n.name), 'controller'].map((n) => `${lab.metricsUrl(n)}/metrics`),
    daemons,
    dirs: [lab.tmp, tor.dir],
  };
}

async function main(): Promise<void> {
  if (!dir || !prefix) throw new Error('usage: keeper.js STATE_DIR PREFIX');
  let lab: TerraceLab | undefined;
  let stopping = false;
  // Installed first: Node would otherwise take SIGUSR1 as "start the inspector".
  process.on('SIGUSR1', () => {
    if (stopping) return;
    stopping = true;
    say('tearing the lab down');
    // Half built: the exit hooks kill what was started and delete the namespaces.
    if (!lab) process.exit(143);
    lab.destroy().then(
      () => process.exit(0),
      (e: unknown) => {
        say(`teardown failed: ${(e as Error).message}`);
        process.exit(1);
      },
    );
  });
  say(`building the lab ${prefix}`);
  // The same shape as `make demo-one-rack`: two GoBGP nodes, a BIRD node, one ToR; and a controller.
  lab = await TerraceLab.start({ nodes: 3, birdNodes: [3], controllerGrace: '5m', prefix, log: say, metrics: true });
  await lab.addPod('node-1', 'web-1');
  await lab.addPod('node-2', 'web-2');
  await lab.addPod('node-3', 'db-1', { pools: [POOL_B.name] });
  const kept = describe(lab);
  writeAtomically(join(dir, ENV_FILE), renderEnv(kept));
  // Last: lab.json is what `make lab` waits for.
  writeAtomically(join(dir, LAB_FILE), `${JSON.stringify(kept, null, 2)}\n`);
  say('the lab is up');
  // Nothing else to do until lab-down; the daemons' pipes and the exit hooks keep the lab owned.
  setInterval(() => undefined, 1 << 30);
}

main().catch((e: unknown) => {
  say(`the lab failed: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});
