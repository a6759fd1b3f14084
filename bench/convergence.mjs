#!/usr/bin/env node
// Convergence in the namespace lab (four nodes, an FRR top-of-rack router,
// etcd; see docs/lab.md). Every figure comes from one run:
//
// - cni_add_ms: CNI ADD through the real plugin, from spawning
//   `ip netns exec NODE terrace` to its exit with the result (p50/p99 over
//   every pod of the run: pods landing in an existing block and pods that
//   claim a new block).
// - route_everywhere_ms: a pod that claims a new block (each trial uses a
//   pool of its own, so its first pod always does) → the block's route is in
//   the kernel of every other node and of the ToR. Measured from the moment
//   the ADD result is back; `ip monitor route` streams in each namespace time
//   the routes (no polling period in the figure). A route already there when
//   the result came back counts as 0.
// - tamper_repair_ms: on one node (the first the lab lists; the step line
//   names it), one of its learned routes (another node's
//   block) is deleted by hand (`ip route del`, as an operator or another
//   program might) → the route is back. Both ends are `ip monitor route`
//   events in that namespace. TAMPER_TRIALS trials (default 10), a different
//   block each; p50/p99. Target under 1 s. Route sync repairs drift at its
//   periodic kernel resync (30 s by default) unless it hears of the change
//   sooner, so each trial is capped at TAMPER_CAP_MS (default 35 s, above one
//   resync period): a capped trial counts as the cap, and `capped` says how
//   many were.
// - node_loss_withdraw_bfd_gobgp_ms: a GoBGP node (node-3) loses power: its
//   fabric link is cut, its agent and gobgpd killed (SIGKILL) and its
//   namespace deleted → its blocks gone from every surviving node and the
//   ToR. Nothing tells the peers; every session runs BFD at 100 ms × 3 (the
//   ToR's bfdd, the other agents' BFD beside gobgpd, BIRD's), so this is
//   BFD's detection plus the route sync, not the hold time (3 s).
//   node_loss_withdraw_bfd_gobgp_tor_ms is the ToR alone. A crash of the
//   processes on a live host (the kernel closes their sessions) is printed
//   beside it. node_loss_withdraw_ms is the same figure (it was the hold
//   time before GoBGP nodes ran BFD).
// - node_loss_withdraw_bfd_ms: the same power-off for a BIRD node (node-5,
//   added last: its agent runs BIRD, which runs BFD) → its blocks gone from
//   every surviving node and the ToR. node_loss_withdraw_bfd_tor_ms is the
//   ToR alone (target under 1 s).
// - restart_lost_pings: a pod pings a pod on another node every 10 ms while
//   that node's agent is stopped (SIGTERM) and started again; echoes without
//   an answer, counted until 10 s after the new agent serves CNI.
// - speaker_restart_lost_pings: the same pings while that node's gobgpd
//   sidecar is killed (SIGKILL) and a new one started 2 s later (the agent
//   keeps running and configures it); echoes without an answer, counted until
//   10 s after the new gobgpd was started. The peers drop the node's routes
//   as soon as its sessions close (graceful restart is off here), so the figure is
//   the 2 s outage plus how long the agent takes to notice the new gobgpd and
//   the sessions to come back (in the lab the mesh peers' gobgpd holds the
//   dropped session idle for about 5 s and redials on the 5 s connect retry).
//   ping slows down while the destination is unreachable, so the longest
//   time without a reply (speaker_restart_gap_ms) is printed beside it.
// - route_everywhere_rr_ms: route_everywhere_ms again, on a lab of its own
//   (started after the first is gone): six nodes, the mesh off, node-1 (BIRD)
//   and node-2 (GoBGP) route reflectors, every node peering with both. New
//   blocks are claimed on the four clients in turn, so each route travels
//   client → reflector → the other clients.
//   The main lab runs without graceful restart (its node-loss figures
//   measure how soon a dead node's routes go, which a graceful-restart helper
//   delays by design).
// - bird_restart_lost_pings, gr_speaker_restart_lost_pings: in a second,
//   smaller lab with graceful restart on every session and on the ToR
//   (Terrace's default; node-1 GoBGP, node-2 BIRD): pings every 10 ms from
//   node-1's pod to node-2's while node-2's BIRD is SIGKILLed and restarted
//   with -R, and from node-2's pod to node-1's while node-1's gobgpd is
//   SIGKILLed and started 2 s later; the longest gaps beside them
//   (bird_restart_gap_ms, gr_speaker_restart_gap_ms).
//
// - tor_loss_fallback_ms, tor_loss_lost_pings: in the fabric lab (two racks
//   of dual-homed nodes, two ToRs per rack, a spine; see docs/lab.md), a pod
//   in rack 2 pings a pod on node-1 (rack 1) every 10 ms while the ToR that
//   node-1 sends the replies through loses power (links cut, FRR SIGKILLed).
//   fallback: power-off → no route on that node forwards over the dead ToR's
//   plane any more (the kernel ECMP routes keep only the other uplink); the
//   nodes notice at their hold time (3 s in the lab; GoBGP nodes have no
//   BFD). lost pings: echoes without an answer until 5 s after the fallback;
//   tor_loss_gap_ms, the longest time without a reply, is printed beside them.
//
// Last line: {"bench":"convergence","cni_add_ms":{"p50":N,"p99":N},
//   "route_everywhere_ms":{"p50":N,"p99":N},"tamper_repair_ms":{"p50":N,"p99":N,"capped":N},
//   "node_loss_withdraw_ms":N,"node_loss_withdraw_bfd_ms":N,"node_loss_withdraw_bfd_tor_ms":N,
//   "node_loss_withdraw_bfd_gobgp_ms":N,"node_loss_withdraw_bfd_gobgp_tor_ms":N,"restart_lost_pings":N,"speaker_restart_lost_pings":N,
//   "speaker_restart_gap_ms":N,"route_everywhere_rr_ms":{"p50":N,"p99":N},"bird_restart_lost_pings":N,
//   "bird_restart_gap_ms":N,"gr_speaker_restart_lost_pings":N,"gr_speaker_restart_gap_ms":N,
//   "tor_loss_fallback_ms":N,"tor_loss_lost_pings":N,"tor_loss_gap_ms":N}
import { execFileSync, spawn } from 'node:child_process';
import { listNamespaces } from '../packages/testkit/dist/src/index.js';
import { FabricLab, RouteWatcher, TerraceLab, mustRunIn, percentile, pingsDuring, round1, sleep, waitUntil } from '../e2e/dist/src/index.js';

const TRIALS = Number(process.env.TRIALS ?? 24);
const EXISTING_BLOCK_PODS = Number(process.env.EXISTING_BLOCK_PODS ?? 24);
const TAMPER_TRIALS = Number(process.env.TAMPER_TRIALS ?? 10);
const TAMPER_CAP_MS = Number(process.env.TAMPER_CAP_MS ?? 35_000);
if (!(TRIALS >= 20)) throw new Error('TRIALS must be at least 20');

/** One pool per trial: 198.19.192.0/18 cut into /28s, each pool one block. */
function trialPool(i) {
  return { name: `bench-${i}`, cidr: `198.19.${192 + Math.floor(i / 16)}.${(i % 16) * 16}/28`, blockSize: 28 };
}

const out = (o) => console.log(JSON.stringify(o));

/**
 * Pings `to` from `from` every 10 ms around `disrupt()` and until 10 s after
 * it returns; resolves with the echo counts, the longest time without a
 * reply (ping paces itself down while the destination is unreachable, so
 * lost echoes undercount an outage) and what `disrupt` returned.
 */
async function pingsAround(lab, from, to, disrupt) {
  await lab.waitPing(from.ns, to.ip, 10000);
  const ping = spawn('ip', ['netns', 'exec', from.ns, 'ping', '-n', '-D', '-i', '0.01', '-W', '1', to.ip], { stdio: ['ignore', 'pipe', 'pipe'] });
  let pingOut = '';
  ping.stdout.on('data', (d) => (pingOut += d));
  const pingDone = new Promise((r) => ping.once('close', r));
  await sleep(500);
  const extra = await disrupt();
  await sleep(10000);
  const end = Date.now();
  ping.kill('SIGINT');
  await pingDone;
  const m = /(\d+) packets transmitted, (\d+) received/.exec(pingOut);
  if (!m) throw new Error(`ping printed no summary: ${pingOut.slice(-2000)}`);
  const replies = [...pingOut.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from/gm)].map((r) => Number(r[1]) * 1000);
  // A gap still open when the window ends counts up to its end.
  replies.push(end);
  let gap = 0;
  for (let i = 1; i < replies.length; i++) gap = Math.max(gap, replies[i] - replies[i - 1]);
  return { transmitted: Number(m[1]), received: Number(m[2]), lost: Number(m[1]) - Number(m[2]), longest_gap_ms: Math.round(gap), ...extra };
}
const stats = (xs) => ({ n: xs.length, p50: round1(percentile(xs, 50)), p99: round1(percentile(xs, 99)), min: round1(Math.min(...xs)), max: round1(Math.max(...xs)) });

const pools = Array.from({ length: TRIALS }, (_, i) => trialPool(i));

/** route_everywhere_ms with route reflectors instead of the mesh (its own six-node lab). */
async function routeEverywhereWithReflectors() {
  const t = performance.now();
  const rrLab = await TerraceLab.start({ nodes: 6, birdNodes: [1, 4], reflectors: [1, 2], extraPools: pools });
  const rrWatcher = new RouteWatcher();
  try {
    out({ step: 'route reflector lab up', ms: Math.round(performance.now() - t) });
    const nodes = [...rrLab.nodes.values()];
    for (const n of nodes) await rrWatcher.watch(n.ns);
    await rrWatcher.watch(rrLab.torNs);
    for (const n of nodes) await rrLab.addPod(n.name, `warm-${n.index}`);
    await sleep(1000);
    const clients = nodes.filter((n) => n.index > 2);
    const everywhere = [];
    for (let i = 0; i < TRIALS; i++) {
      const node = clients[i % clients.length];
      const pool = pools[i];
      const others = [...nodes.filter((n) => n !== node).map((n) => n.ns), rrLab.torNs];
      await rrLab.addPod(node.name, `t${i}`, { pools: [pool.name] });
      const done = performance.now();
      const seen = await rrWatcher.waitAll(pool.cidr, others, 'present', 20000);
      everywhere.push(Math.max(0, Math.max(...seen.values()) - done));
    }
    out({ step: 'route everywhere, route reflectors', trials: TRIALS, from_add_result_ms: stats(everywhere) });
    return { p50: round1(percentile(everywhere, 50)), p99: round1(percentile(everywhere, 99)) };
  } catch (e) {
    console.error(rrLab.diagnostics());
    throw e;
  } finally {
    rrWatcher.close();
    const prefix = rrLab.kit.prefix;
    await rrLab.destroy();
    const left = await listNamespaces(prefix);
    if (left.length) console.error(`left behind: ${left.join(', ')}`);
  }
}
/**
 * ToR loss in the fabric lab (a lab of its own, started after the first is
 * gone): the ToR that carries the measured flow's replies loses power.
 */
async function torLoss() {
  const fabric = await FabricLab.start({ racks: 2, nodesPerRack: 2, birdNodes: [4] });
  try {
    const to = await fabric.addPod('node-1', 'tor-loss-dst');
    const from = await fabric.addPod('node-3', 'tor-loss-src');
    const dst = fabric.node(to.node);
    await waitUntil('the fabric routes', async () => (await fabric.routes(dst.ns, 4)).some((r) => r.nexthops?.length === 2), 30000, 200);
    // The uplink node-1 sends its replies over (ECMP hashes the flow onto one).
    const hostIf = to.result.interfaces[0].name;
    const via = await mustRunIn(dst.ns, 'ip', ['-4', 'route', 'get', from.ip, 'from', to.ip, 'iif', hostIf]);
    const plane = / dev eth-b /.test(via) ? 'b' : 'a';
    const onPlane = async () =>
      (await fabric.routes(dst.ns, 4)).some((r) => r.protocol !== 'kernel' && (r.dev === `eth-${plane}` || (r.nexthops ?? []).some((h) => h.dev === `eth-${plane}`)));
    let fallbackMs = 0;
    const r = await pingsDuring(from.ns, to.ip, async () => {
      const k0 = performance.now();
      await fabric.killTor(1, plane);
      await waitUntil(`rack 1 off plane ${plane}`, async () => !(await onPlane()), 30000, 20);
      fallbackMs = Math.round(performance.now() - k0);
    }, 5000);
    out({ step: 'ToR loss (power-off, fabric lab)', tor: `tor-r1${plane}`, fallback_ms: fallbackMs, transmitted: r.transmitted, received: r.received, lost: r.lost, longest_gap_ms: r.longestGapMs, hold_time_s: 3 });
    return { tor_loss_fallback_ms: fallbackMs, tor_loss_lost_pings: r.lost, tor_loss_gap_ms: r.longestGapMs };
  } finally {
    await fabric.destroy();
  }
}

const t0 = performance.now();
// node-5 runs BIRD; it joins only for the last step, so every other figure is the GoBGP nodes' alone.
const lab = await TerraceLab.start({ nodes: 4, torNeighbors: 5, birdNodes: [5], extraPools: pools });
const watcher = new RouteWatcher();
let summary;
try {
  out({ step: 'lab up', ms: Math.round(performance.now() - t0) });
  const nodes = [...lab.nodes.values()];
  for (const n of nodes) await watcher.watch(n.ns);
  await watcher.watch(lab.torNs);

  // Warm up: one pod per node (its first block), so later trials see steady state.
  for (const n of nodes) await lab.addPod(n.name, `warm-${n.index}`);
  await sleep(1000);

  const addNew = [];
  const everywhere = [];
  const perPlace = [];
  for (let i = 0; i < TRIALS; i++) {
    const node = nodes[i % nodes.length];
    const pool = pools[i];
    const others = [...nodes.filter((n) => n !== node).map((n) => n.ns), lab.torNs];
    const start = performance.now();
    const pod = await lab.addPod(node.name, `t${i}`, { pools: [pool.name] });
    const done = performance.now();
    addNew.push(pod.addMs);
    const seen = await watcher.waitAll(pool.cidr, others, 'present', 20000);
    const last = Math.max(...seen.values());
    everywhere.push(Math.max(0, last - done));
    perPlace.push(Object.fromEntries([...seen].map(([ns, at]) => [ns.slice(lab.kit.prefix.length), round1(at - start)])));
  }
  out({ step: 'route everywhere', trials: TRIALS, from_add_result_ms: stats(everywhere), add_new_block_ms: stats(addNew) });
  out({ step: 'route everywhere, per namespace from ADD start (ms)', trials: perPlace });

  const addExisting = [];
  for (let i = 0; i < EXISTING_BLOCK_PODS; i++) {
    const node = nodes[i % nodes.length];
    const pod = await lab.addPod(node.name, `e${i}`);
    addExisting.push(pod.addMs);
  }
  out({ step: 'cni add into an existing block', add_ms: stats(addExisting) });
  const allAdds = [...addNew, ...addExisting];

  // Tamper: delete one of a node's learned routes by hand; time until it is back.
  const victim = nodes[0];
  const learnedBlocks = pools.filter((_, i) => nodes[i % nodes.length] !== victim).map((p) => p.cidr);
  const repairs = [];
  let capped = 0;
  for (let i = 0; i < Math.min(TAMPER_TRIALS, learnedBlocks.length); i++) {
    const cidr = learnedBlocks[i];
    await watcher.waitAll(cidr, [victim.ns], 'present', 20000);
    execFileSync('ip', ['-n', victim.ns, 'route', 'del', cidr]);
    const gone = (await watcher.waitAll(cidr, [victim.ns], 'absent', 5000)).get(victim.ns);
    try {
      const back = (await watcher.waitAll(cidr, [victim.ns], 'present', TAMPER_CAP_MS)).get(victim.ns);
      repairs.push(Math.max(0, back - gone));
    } catch {
      // Not back within the cap: counted as the cap (a lower bound).
      capped++;
      repairs.push(TAMPER_CAP_MS);
      // Let the next periodic resync put it back before the next trial.
      await watcher.waitAll(cidr, [victim.ns], 'present', 60000);
    }
  }
  const tamper = { p50: round1(percentile(repairs, 50)), p99: round1(percentile(repairs, 99)), capped };
  out({ step: 'tamper repair', node: victim.name, cap_ms: TAMPER_CAP_MS, repair_ms: stats(repairs), capped });

  // Agent restart on node-2 while pod warm-1 (node-1) pings warm-2 (node-2) every 10 ms.
  const from = lab.pod('warm-1');
  const to = lab.pod('warm-2');
  const restart = await pingsAround(lab, from, to, async () => {
    const r0 = performance.now();
    await lab.stopAgent('node-2');
    const stopped = performance.now();
    await lab.startAgent('node-2');
    const ready = performance.now();
    return { stop_ms: Math.round(stopped - r0), start_to_ready_ms: Math.round(ready - stopped) };
  });
  const lost = restart.lost;
  out({ step: 'agent restart', ...restart });

  // node-2's gobgpd sidecar crashes and is started again 2 s later; its agent stays.
  const speakerRestart = await pingsAround(lab, from, to, async () => {
    await lab.stopGobgpd('node-2');
    await sleep(2000);
    lab.startGobgpd('node-2');
    return { down_ms: 2000 };
  });
  out({ step: 'gobgpd sidecar restart', ...speakerRestart });

  // Node loss, two ways. node-4 crashes (processes killed on a live link:
  // their TCP sessions close at once); node-3 loses power (link cut first:
  // nothing tells the peers, BFD notices). The summary reports the power loss.
  const lose = async (name, how) => {
    const dead = lab.node(name);
    const survivors = [...lab.nodes.values()].filter((n) => n !== dead).map((n) => n.ns);
    const blocks = JSON.parse(await lab.mustCtl(['ipam', 'show', '--show-blocks', '-o', 'json']))
      .filter((b) => b.node === dead.name)
      .map((b) => b.cidr);
    for (const c of blocks) await watcher.waitAll(c, [...survivors, lab.torNs], 'present', 20000);
    watcher.unwatch(dead.ns);
    const k0 = performance.now();
    await lab.killNode(dead.name, how);
    const gone = await Promise.all(blocks.map((c) => watcher.waitAll(c, [...survivors, lab.torNs], 'absent', 30000)));
    const ms = Math.max(...gone.flatMap((g) => [...g.values()])) - k0;
    out({ step: `node loss (${how})`, node: name, blocks: blocks.length, withdraw_ms: Math.round(ms), hold_time_s: 3 });
    return ms;
  };
  await lose('node-4', 'crash');

  /**
   * A node with BFD towards the ToR and the mesh loses power (link cut first):
   * how long until its blocks leave the ToR and every surviving node. Waits
   * for the ToR's BFD session with it to be Up first, so the figure is BFD's
   * detection, not a session still coming up.
   */
  const bfdPowerOff = async (node, label) => {
    const survivors = [...lab.nodes.values()].filter((n) => n !== node).map((n) => n.ns);
    const blocks = JSON.parse(await lab.mustCtl(['ipam', 'show', '--show-blocks', '-o', 'json']))
      .filter((b) => b.node === node.name)
      .map((b) => b.cidr);
    for (const c of blocks) await watcher.waitAll(c, [...survivors, lab.torNs], 'present', 20000);
    const bfdUp = async () => (await lab.tor.bfdPeers())[node.ip] === 'up';
    for (let i = 0; i < 100 && !(await bfdUp()); i++) await sleep(100);
    watcher.unwatch(node.ns);
    const k0 = performance.now();
    await lab.killNode(node.name, 'power-off');
    const gone = await Promise.all(blocks.map((c) => watcher.waitAll(c, [...survivors, lab.torNs], 'absent', 30000)));
    const at = (ns) => Math.round(Math.max(...gone.map((g) => g.get(ns))) - k0);
    const r = { tor_ms: at(lab.torNs), survivors_ms: Math.max(...survivors.map(at)) };
    out({ step: `node loss (power-off, ${label}, BFD 100 ms x 3)`, node: node.name, blocks: blocks.length, withdraw_tor_ms: r.tor_ms, withdraw_survivors_ms: r.survivors_ms, hold_time_s: 3 });
    return r;
  };

  // A GoBGP node loses power: the agents' BFD (mesh) and the ToR's bfdd notice it.
  const gobgpLoss = await bfdPowerOff(lab.node('node-3'), 'GoBGP node');

  // A BIRD node (BFD with the ToR and the mesh) loses power.
  const bird = await lab.addNode(5);
  await lab.waitSessions();
  await lab.addPod(bird.name, 'warm-5');
  await sleep(1000);
  const birdLoss = await bfdPowerOff(bird, 'BIRD node');

  summary = {
    bench: 'convergence',
    cni_add_ms: { p50: round1(percentile(allAdds, 50)), p99: round1(percentile(allAdds, 99)) },
    route_everywhere_ms: { p50: round1(percentile(everywhere, 50)), p99: round1(percentile(everywhere, 99)) },
    tamper_repair_ms: tamper,
    // Every node runs BFD now: the GoBGP node's power-off is BFD's figure too.
    node_loss_withdraw_ms: Math.max(gobgpLoss.tor_ms, gobgpLoss.survivors_ms),
    node_loss_withdraw_bfd_ms: Math.max(birdLoss.tor_ms, birdLoss.survivors_ms),
    node_loss_withdraw_bfd_tor_ms: birdLoss.tor_ms,
    node_loss_withdraw_bfd_gobgp_ms: Math.max(gobgpLoss.tor_ms, gobgpLoss.survivors_ms),
    node_loss_withdraw_bfd_gobgp_tor_ms: gobgpLoss.tor_ms,
    restart_lost_pings: lost,
    speaker_restart_lost_pings: speakerRestart.lost,
    speaker_restart_gap_ms: speakerRestart.longest_gap_ms,
  };
} catch (e) {
  console.error(lab.diagnostics());
  throw e;
} finally {
  watcher.close();
  const prefix = lab.kit.prefix;
  await lab.destroy();
  const left = await listNamespaces(prefix);
  if (left.length) console.error(`left behind: ${left.join(', ')}`);
}
summary = { ...summary, route_everywhere_rr_ms: await routeEverywhereWithReflectors() };
Object.assign(summary, await gracefulRestartFigures());
Object.assign(summary, await torLoss());
out({ step: 'total', s: round1((performance.now() - t0) / 1000) });
console.log(JSON.stringify(summary));
process.exit(0);

/** Daemon restarts under graceful restart, in a lab of their own (see the header). */
async function gracefulRestartFigures() {
  const gr = await TerraceLab.start({ nodes: 2, birdNodes: [2], gracefulRestart: true });
  try {
    const a = await gr.addPod('node-1', 'gr-a');
    const b = await gr.addPod('node-2', 'gr-b');
    const bird = await pingsAround(gr, a, b, async () => {
      const pids = await gr.killBird('node-2');
      return { old_pid: pids.oldPid, new_pid: pids.newPid };
    });
    out({ step: 'BIRD killed and restarted with -R (graceful restart)', ...bird });
    await gr.waitSessions(60000);
    const speaker = await pingsAround(gr, b, a, async () => {
      await gr.stopGobgpd('node-1');
      await sleep(2000);
      gr.startGobgpd('node-1');
      return { down_ms: 2000 };
    });
    out({ step: 'gobgpd sidecar restart (graceful restart)', ...speaker });
    return {
      bird_restart_lost_pings: bird.lost,
      bird_restart_gap_ms: bird.longest_gap_ms,
      gr_speaker_restart_lost_pings: speaker.lost,
      gr_speaker_restart_gap_ms: speaker.longest_gap_ms,
    };
  } catch (e) {
    console.error(gr.diagnostics());
    throw e;
  } finally {
    const prefix = gr.kit.prefix;
    await gr.destroy();
    const left = await listNamespaces(prefix);
    if (left.length) console.error(`left behind: ${left.join(', ')}`);
  }
}
