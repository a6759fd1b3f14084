#!/usr/bin/env node
// The agent's own CPU for a full BGP feed, without any BGP daemon.
//
// The ingest bench times the whole path with gobgpd, FRR and BIRD sharing the
// machine, so its figures move with everything else on it. This one measures
// only the part that is ours: a BMP stream like the one gobgpd sends (100,000
// /32s from 198.18.16.0 upwards, 800 per UPDATE, from peer 198.18.0.1 AS 65100)
// after an Initiation and a Peer Up, is written over TCP to a real BMP
// station on 127.0.0.1, into the Adj-RIB-In
// and best-path selection, through the agent's bookkeeping (LearnedRoutes)
// and RouteSync into a scratch network namespace's kernel, until every route
// is confirmed there. Each try is a fresh process, as an agent that has just
// started: its code is cold, as it is for a node's first table after a
// restart. Two stages, alternating:
//   rib   BMP parse, Adj-RIB-In and selection only
//   all   the whole path into the kernel
// CPU is the process's own (user+system) and, for `all`, the relay children's
// (reaped after RouteSync.close: their whole life, start-up included, and the
// kernel's route inserts, which are charged to them).
//
// Usage: npm run bench -- pipeline [--prefixes=100000] [--reps=3]
// Last line: {"bench":"pipeline","prefixes":N,"rib_cpu_s":N,"all_cpu_s":N,"relay_cpu_s":N,"all_wall_s":N}
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';

const argv = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'];
  }),
);
const N = Number(argv.prefixes ?? 100_000);
const REPS = Number(argv.reps ?? 3);
const PER_UPDATE = 800;
const FIRST = ((198 << 24) >>> 0) + (18 << 16) + (16 << 8); // 198.18.16.0
const PEER = [198, 18, 0, 1];
const TIMEOUT_MS = 120_000;

/** A BMP message (RFC 7854): common header and body. */
function bmp(type, body) {
  const head = Buffer.alloc(6);
  head[0] = 3;
  head.writeUInt32BE(6 + body.length, 1);
  head[5] = type;
  return Buffer.concat([head, body]);
}

/** The per-peer header: global instance, IPv4 peer, 4-byte ASNs. */
function peerHeader() {
  const peer = Buffer.alloc(42);
  Buffer.from(PEER).copy(peer, 22);
  peer.writeUInt32BE(65100, 26);
  Buffer.from(PEER).copy(peer, 30);
  return peer;
}

/** One BMP route-monitoring message (RFC 7854) carrying an UPDATE of `count` /32s from `from`. */
function routeMonitoring(from, count) {
  const attrs = Buffer.from([
    0x40, 1, 1, 0, // ORIGIN IGP
    0x40, 2, 6, 2, 1, 0, 0, 0xfe, 0x4c, // AS_PATH: one AS_SEQUENCE of 65100 (4-byte ASNs)
    0x40, 3, 4, ...PEER, // NEXT_HOP
  ]);
  const nlri = Buffer.alloc(count * 5);
  for (let i = 0; i < count; i++) {
    nlri[i * 5] = 32;
    nlri.writeUInt32BE((FIRST + from + i) >>> 0, i * 5 + 1);
  }
  const bgpLen = 19 + 2 + 2 + attrs.length + nlri.length;
  const bgp = Buffer.alloc(23);
  bgp.fill(0xff, 0, 16);
  bgp.writeUInt16BE(bgpLen, 16);
  bgp[18] = 2; // UPDATE
  bgp.writeUInt16BE(0, 19); // no withdrawn routes
  bgp.writeUInt16BE(attrs.length, 21);
  return bmp(0, Buffer.concat([peerHeader(), bgp, attrs, nlri]));
}

/** Initiation (sysName TLV) and Peer Up (addresses, ports and OPENs are not read by the station). */
function preamble() {
  const name = Buffer.from('bench');
  const tlv = Buffer.alloc(4);
  tlv.writeUInt16BE(2, 0);
  tlv.writeUInt16BE(name.length, 2);
  return Buffer.concat([bmp(4, Buffer.concat([tlv, name])), bmp(3, Buffer.concat([peerHeader(), Buffer.alloc(20)]))]);
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

/** Settles with p, or fails after TIMEOUT_MS. */
function within(what, p) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done after ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** CPU seconds of reaped children: cutime + cstime, fields 16 and 17 of /proc/self/stat. */
function childCpu() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces: f[0] is field 3.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / CLK_TCK;
}

async function child(stage) {
  const { AdjRibIn, BmpStation } = await import('../packages/bgp/dist/src/index.js');
  const { RouteSync } = await import('../packages/dataplane/dist/src/index.js');
  const { LearnedRoutes } = await import('../packages/agent/dist/src/index.js');
  const { packIP, parseIP } = await import('../packages/api/dist/src/index.js');
  const parts = [];
  for (let i = 0; i < N; i += PER_UPDATE) parts.push(routeMonitoring(i, Math.min(PER_UPDATE, N - i)));
  const stream = Buffer.concat([preamble(), ...parts]);
  const ns = `tp${process.pid.toString(36)}-pipeline`;
  const quiet = { debug() {}, info() {}, warn: (m) => console.error(m), error: (m) => console.error(m) };
  const removeNs = () => {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // not there
    }
  };
  // Interrupted (Ctrl-C reaches the whole process group): the namespace goes too.
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      removeNs();
      process.exit(130);
    });
  }
  execFileSync('ip', ['netns', 'add', ns]);
  let sync;
  let station;
  let sock;
  try {
    execFileSync('ip', ['-n', ns, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1']);
    execFileSync('ip', ['-n', ns, 'addr', 'add', '198.18.0.10/24', 'dev', 'p0']);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'p0', 'up']);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'p1', 'up']);
    sync = stage === 'all' ? new RouteSync({ netns: ns, resyncIntervalMs: 0, logger: quiet }) : undefined;
    // As the agent does before peers come: the kernel read and the relay started.
    await sync?.resync();
    const rib = new AdjRibIn({ localAsn: 65101, routerId: ((198 << 24) >>> 0) + (18 << 16) + 10 });
    const learned = sync && new LearnedRoutes(sync, (e) => console.error(`route refused: ${e.message}`));
    learned?.setContext({ originated: new Set(), selfAddresses: new Set([packIP(parseIP('198.18.0.10'))]) }, new Set());
    let seen = 0;
    let allSeen;
    const seenAll = new Promise((r) => (allSeen = r));
    station = new BmpStation({
      rib,
      host: '127.0.0.1',
      onEvents: (batch) => {
        seen += batch.length;
        learned?.apply(batch);
        if (seen >= N) allSeen();
      },
      onError: (e) => console.error(`station: ${e.message}`),
    });
    await station.listen();
    sock = connect(station.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const cpu0 = process.cpuUsage();
    const kids0 = childCpu();
    const t0 = performance.now();
    for (let i = 0; i < stream.length; i += 65536) {
      if (!sock.write(stream.subarray(i, i + 65536))) await new Promise((r) => sock.once('drain', r));
    }
    await within('BMP stream', seenAll);
    await within('route sync', sync?.flush());
    const wall = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    sock.destroy();
    await station.close();
    await sync?.close();
    sync = undefined;
    const relay = childCpu() - kids0;
    const installed = stage === 'all' ? Number(execFileSync('sh', ['-c', `ip -n ${ns} -4 route show proto 201 | wc -l`]).toString()) : N;
    if (installed !== N) throw new Error(`${installed} routes in the kernel, wanted ${N}`);
    console.log(
      JSON.stringify({
        stage,
        wall_s: +wall.toFixed(3),
        cpu_s: +((cpu.user + cpu.system) / 1e6).toFixed(3),
        relay_cpu_s: +relay.toFixed(2),
      }),
    );
  } finally {
    sock?.destroy();
    await station?.close();
    await sync?.close();
    removeNs();
  }
}

if (argv.child) {
  await child(argv.child);
  process.exit(0);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const results = { rib: [], all: [] };
for (let r = 0; r < REPS; r++) {
  for (const stage of ['rib', 'all']) {
    const c = spawnSync(process.execPath, [fileURLToPath(import.meta.url), `--child=${stage}`, `--prefixes=${N}`], {
      encoding: 'utf8',
      timeout: 2 * TIMEOUT_MS + 60_000,
      killSignal: 'SIGTERM',
    });
    if (c.status !== 0) throw new Error(`pipeline ${stage}: ${c.stderr.trim() || `exit ${c.status}`}`);
    const line = c.stdout.trim().split('\n').pop();
    console.log(line);
    results[stage].push(JSON.parse(line));
  }
}
const round = (x) => +x.toFixed(3);
console.log(
  JSON.stringify({
    bench: 'pipeline',
    prefixes: N,
    rib_cpu_s: round(median(results.rib.map((x) => x.cpu_s))),
    all_cpu_s: round(median(results.all.map((x) => x.cpu_s))),
    relay_cpu_s: round(median(results.all.map((x) => x.relay_cpu_s))),
    all_wall_s: round(median(results.all.map((x) => x.wall_s))),
  }),
);
