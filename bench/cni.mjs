#!/usr/bin/env node
// Pod ADD and DEL through the real plugin, as a runtime calls it, beside
// Debian's reference plugins (`ptp` + `host-local` from
// containernetworking-plugins) doing the same in the same run.
//
// Terrace: a one-node lab (etcd, gobgpd, terrace-agent in the node's
// namespace; see docs/lab.md). Reference: another namespace on the same
// machine. Both plugins are started the same way, `ip netns exec NODE
// plugin` with the CNI variables and the config on stdin, and timed from
// spawn to exit; `wrapper_ms` is what that wrapper costs alone (`ip netns
// exec NODE /bin/true`), included in both.
//
// Per side: N ADDs one at a time (alternating terrace and reference), N DELs,
// then 20 concurrent ADDs (wall time for all 20). `agent_add_ms` is the
// agent's own time per ADD (its log: parse, IPAM, wiring, routes in the
// kernel). `duplicates` counts addresses held by two live Terrace pods at once.
//
// METRICS=1 runs the agent with its metrics endpoint on (as in production), to
// compare the ADD path with and without the metric hooks.
//
// Last line: {"bench":"cni","add_ms":{"p50":N,"p99":N},"agent_add_ms":{...},
//   "ref_add_ms":{...},"del_ms":{...},"ref_del_ms":{...},"concurrent20_s":N,
//   "ref_concurrent20_s":N,"duplicates":0}
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NETWORK_NAME, POOL_A, TerraceLab, cleanEnv, netConf, percentile, round1, runIn } from '../e2e/dist/src/index.js';

const N = Number(process.env.PODS ?? 50);
const CONCURRENT = 20;
const REF_PLUGINS = '/usr/lib/cni';
const out = (o) => console.log(JSON.stringify(o));
const stats = (xs) => ({ p50: round1(percentile(xs, 50)), p99: round1(percentile(xs, 99)) });

const lab = await TerraceLab.start({ nodes: 1, metrics: process.env.METRICS === '1' });
const refData = mkdtempSync(join(tmpdir(), 'terrace-bench-ref-'));
try {
  const node = [...lab.nodes.values()][0];
  const refNs = await lab.kit.addNamespace('ref');
  const terraceConf = JSON.stringify(netConf(node.socket, [POOL_A.name]));
  const refConf = JSON.stringify({
    cniVersion: '1.0.0',
    name: 'refnet',
    type: 'ptp',
    ipMasq: false,
    ipam: { type: 'host-local', ranges: [[{ subnet: '198.19.240.0/22' }]], dataDir: refData },
  });

  const call = (side, command, id, podNs) => {
    const env = { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_IFNAME: 'eth0', CNI_PATH: side === 'terrace' ? lab.cniPath : REF_PLUGINS };
    if (podNs) env.CNI_NETNS = `/var/run/netns/${podNs}`;
    const plugin = side === 'terrace' ? join(lab.cniPath, 'terrace') : join(REF_PLUGINS, 'ptp');
    return runIn(side === 'terrace' ? node.ns : refNs, plugin, [], { env: cleanEnv(env), input: side === 'terrace' ? terraceConf : refConf });
  };
  const must = async (side, command, id, podNs) => {
    const r = await call(side, command, id, podNs);
    if (r.code !== 0) throw new Error(`${side} ${command} ${id}: exit ${r.code}: ${r.stdout}${r.stderr}`);
    return r;
  };
  const addressOf = (r) => JSON.parse(r.stdout).ips[0].address;

  const wrapper = [];
  for (let i = 0; i < 20; i++) wrapper.push((await runIn(node.ns, '/bin/true')).ms);

  const pods = [];
  for (let i = 0; i < N + CONCURRENT; i++) pods.push({ t: await lab.kit.addNamespace(`t${i}`), r: await lab.kit.addNamespace(`r${i}`) });

  const add = { terrace: [], ref: [] };
  const del = { terrace: [], ref: [] };
  const terraceAddresses = [];
  const logMark = node.agent.output().length;
  for (let i = 0; i < N; i++) {
    const t = await must('terrace', 'ADD', `bench-t${i}`, pods[i].t);
    add.terrace.push(t.ms);
    terraceAddresses.push(addressOf(t));
    add.ref.push((await must('ref', 'ADD', `bench-r${i}`, pods[i].r)).ms);
  }
  // The agent logs every ADD with its own duration.
  const agentAdd = node.agent
    .output()
    .slice(logMark)
    .split('\n')
    .filter((l) => l.includes('"cni ADD"'))
    .map((l) => JSON.parse(l).ms);
  for (let i = 0; i < N; i++) {
    del.terrace.push((await must('terrace', 'DEL', `bench-t${i}`, pods[i].t)).ms);
    del.ref.push((await must('ref', 'DEL', `bench-r${i}`, pods[i].r)).ms);
  }

  const burst = async (side) => {
    const t0 = performance.now();
    const rs = await Promise.all(pods.slice(N).map((p, k) => must(side, 'ADD', `burst-${side}-${k}`, side === 'terrace' ? p.t : p.r)));
    const s = (performance.now() - t0) / 1000;
    await Promise.all(pods.slice(N).map((p, k) => must(side, 'DEL', `burst-${side}-${k}`, side === 'terrace' ? p.t : p.r)));
    return { s, rs };
  };
  const tb = await burst('terrace');
  const rb = await burst('ref');
  // Addresses held at the same time: the N sequential pods (all live before
  // the DELs), then the burst's pods; a freed address may come back later.
  const dup = (xs) => xs.length - new Set(xs).size;
  const duplicates = dup(terraceAddresses) + dup(tb.rs.map(addressOf));

  out({ bench: 'cni', detail: true, pods: N, network: NETWORK_NAME, wrapper_ms: stats(wrapper), agent_add_samples: agentAdd.length });
  const summary = {
    bench: 'cni',
    add_ms: stats(add.terrace),
    agent_add_ms: stats(agentAdd),
    ref_add_ms: stats(add.ref),
    del_ms: stats(del.terrace),
    ref_del_ms: stats(del.ref),
    concurrent20_s: Math.round(tb.s * 1000) / 1000,
    ref_concurrent20_s: Math.round(rb.s * 1000) / 1000,
    duplicates,
    metrics: process.env.METRICS === '1',
  };
  out(summary);
} finally {
  await lab.destroy();
  rmSync(refData, { recursive: true, force: true });
}
