#!/usr/bin/env node
// BGP ingest: how fast a full feed from a peer reaches the kernel.
//
// A sender gobgpd (its own namespace, AS 65100) holds 10,000 and then 100,000
// /32 prefixes (198.18.16.0 upwards, inside 198.18.0.0/15), injected through
// the gRPC API (AddPathStream) and counted with GetTable before any timing.
// Receivers are measured one after another in the same run, each in a fresh
// namespace on the same fabric, each from the moment the sender sees its
// session Established until all N prefixes are in place. Our receivers get
// the session policy the agent gives every peer (pool prefixes only, with a
// pool holding the table), so the policy's cost is in their figures:
//   terrace      our GoBGP backend: gobgpd → BMP (every UPDATE as received) →
//                our Adj-RIB-In and best-path selection → the agent's
//                LearnedRoutes → @terrace/dataplane RouteSync (kernel writes
//                overlap the receive)
//   frr          FRR 8 bgpd + zebra into the kernel
//   bird         BIRD 2 with a kernel protocol
//   terrace_bird our BIRD backend, as the agent runs it on a BIRD node: a
//                BirdSpeaker supervising bird (config rendered by us, BIRD's
//                kernel protocol writes the routes, `proto bird`), the
//                agent's learned-route report followed (learned(), polling
//                BIRD's kernel export) and route sync running beside it for
//                blackholes and pod routes, as on a node; compare with bird
//   gobgp_rib    a plain gobgpd, no kernel writes (the floor for terrace)
// and, only when named in --only (not a target, a diagnosis):
//   terrace_learn  terrace without route sync: timed until the agent's own
//                Adj-RIB-In has selected all N and LearnedRoutes has derived
//                a route for each. What it adds to gobgp_rib is
//                the cost of learning the routes at all, which no kernel-side
//                work can remove. Name it after terrace: it warms the agent's
//                BGP code, so a terrace run after it in the same process is
//                no longer a cold start.
//   floor        the floor of any redesign of terrace's path: gobgpd as
//                terrace runs it, BMP straight into a typed-array table and
//                RTM_NEWROUTE frames through our relay, with no objects per
//                prefix, no best-path selection (one peer) and no checks. Not
//                a usable agent; it says how close a redesign could come.
// Kernel receivers are timed by a shell loop of its own reading the
// namespace's IPv4 prefix count from /proc/net/fib_triestat every 20 ms
// (10,000 prefixes) or 100 ms (100,000) (the count is checked by protocol
// afterwards); gobgp_rib by polling its ListPeer
// counts every 20 ms. Counting must stay cheap: on two CPUs anything it
// spends is taken from the receiver being timed. (/proc/net/route, used
// before, renders every route as text: 0.1 s of kernel time per read at
// 100,000 routes, so polling it took most of a CPU once the table was full.)
//
// Each receiver's line also says where the time went:
//   cpu_s          CPU seconds the whole machine spent between session up and
//                  done (sender, receiver, our code, the kernel, the counting)
//   daemon_cpu_s   the receiving gobgpd's share of it (terrace, gobgp_rib)
//   agent_cpu_s    terrace: this process's share (the agent's code)
//   rib_s          terrace: when its own gobgpd had all N in its RIB (polled
//                  like gobgp_rib's), so kernel_lag_s = terrace_s - rib_s is
//                  how far the kernel writes trail the receive (for
//                  terrace_learn, learn_lag_s: how far our selection trails it)
//
// Usage: npm run bench -- ingest [--sizes=10000,100000] [--only=gobgp_rib,terrace,frr,bird,terrace_bird[,terrace_learn][,floor]]
// Last line: {"bench":"ingest","runs":[{"prefixes":10000,"terrace_s":N,"frr_s":N,"bird_s":N,"terrace_bird_s":N,"gobgp_rib_s":N},...]}
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decodeManifests, packIP, parseIP } from '../packages/api/dist/src/index.js';
import { BirdSpeaker, GobgpClient, GobgpDaemon, GobgpSpeaker, compilePolicy, listenTcp, toApiPath } from '../packages/bgp/dist/src/index.js';
import { createLab, onProcessExit, startFrr, waitFor } from '../packages/testkit/dist/src/index.js';

const run = promisify(execFile);
const argv = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'];
  }),
);
const SIZES = (argv.sizes ?? '10000,100000').split(',').map(Number);
const KINDS = (argv.only ?? 'gobgp_rib,terrace,frr,bird,terrace_bird').split(',');
const SENDER = { addr: '198.18.0.1', asn: 65100 };
const ASN = { terrace: 65101, frr: 65102, bird: 65103, gobgp_rib: 65104, terrace_learn: 65105, floor: 65106, terrace_bird: 65107 };
const KERNEL_PROTO = { terrace: '201', frr: 'bgp', bird: 'bird', floor: '201', terrace_bird: 'bird' };
const FIRST = (198 << 24) + (18 << 16) + (16 << 8); // 198.18.16.0
const TIMERS = { keepaliveTime: 10, holdTime: 30, connectRetry: 1 };
// The session policy the agent gives every peer (the default import policy:
// prefixes inside a pool), with a pool holding the table: what runs on a node.
const BENCH_POOL = /** @type {import('../packages/api/dist/src/index.js').IPPool} */ (
  decodeManifests('apiVersion: terrace.dev/v1\nkind: IPPool\nmetadata: {name: bench}\nspec: {cidr: 198.18.0.0/15}\n', 'bench')[0]
);
const POLICY = compilePolicy({ pools: [BENCH_POOL], filters: new Map(), names: [], where: 'bench' }).policy;
const quiet = { debug() {}, info() {}, warn: (m, x) => console.error(m, x ?? ''), error: (m, x) => console.error(m, x ?? '') };

let dataplane = null;
// The agent's public entry point (it also loads etcd, gRPC and the CNI server: once, before anything is timed).
const { LearnedRoutes } = await import('../packages/agent/dist/src/index.js');
try {
  dataplane = await import('../packages/dataplane/dist/src/index.js');
  if (typeof dataplane.RouteSync !== 'function') dataplane = null;
} catch {
  dataplane = null;
}

const work = mkdtempSync(join(tmpdir(), 'terrace-bench-ingest-'));
const lab = await createLab({ tag: 'ti' });
const log = (o) => console.log(JSON.stringify(o));

const CLK_TCK = Number((await run('getconf', ['CLK_TCK'])).stdout.trim());

/** CPU seconds (user + system) a live process has used; 0 once it is gone. */
function processCpu(pid) {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (in parentheses, may hold spaces): f[0] is field 3.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** CPU seconds every CPU of the machine has spent busy (user, nice, system, irq, softirq, steal). */
function machineCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / CLK_TCK;
}

function cpuSnapshot(daemonPid) {
  const u = process.cpuUsage();
  return { machine: machineCpu(), daemon: processCpu(daemonPid), agent: (u.user + u.system) / 1e6 };
}

/** Resolves with performance.now() once the gobgpd behind `client` has accepted n paths from the sender. */
async function ribHolds(client, n) {
  for (;;) {
    const [r] = await client.list('listPeer', { address: SENDER.addr });
    const got = (r?.peer?.afiSafis ?? []).reduce((a, f) => a + Number(f.state?.accepted ?? 0n), 0);
    if (got >= n) return performance.now();
    await new Promise((res) => setTimeout(res, 20));
  }
}

/**
 * A receiver's done/ribDone pair: `finish(n)` is its own finish line, and
 * beside it the gobgpd behind `client` is polled as gobgp_rib's is (the same
 * cost in both runs), for rib_s.
 */
function withRibPoll(client, finish) {
  let rib;
  return {
    done(n) {
      rib = ribHolds(client, n);
      rib.catch(() => undefined);
      return finish(n);
    },
    ribDone: () => rib,
  };
}

/** Resolves with performance.now() once the namespace holds n more IPv4 prefixes than now. */
async function kernelHolds(ns, n) {
  return kernelDone(ns, await mainRoutes(ns), n);
}

/**
 * Adds prefixes [from, to) to the sender through AddPathStream, from a child
 * process: building 100,000 messages leaves garbage that would otherwise be
 * collected in this process while the terrace receiver is being timed.
 */
async function inject(address, from, to) {
  const bgp = new URL('../packages/bgp/dist/src/index.js', import.meta.url).href;
  const code = `
    import { GobgpClient, toApiPath } from ${JSON.stringify(bgp)};
    const c = new GobgpClient(${JSON.stringify(address)});
    const nextHop = { family: 4, value: ${parseIP(SENDER.addr).value}n };
    const s = c.clientStream('addPathStream');
    for (let i = ${from}; i < ${to}; i += 2000) {
      const paths = [];
      for (let j = i; j < Math.min(${to}, i + 2000); j++) {
        paths.push(toApiPath({ prefix: { family: 4, base: BigInt(${FIRST} + j), prefix: 32 }, nextHop }));
      }
      await s.write({ tableType: 0, paths });
    }
    await s.end();
    c.close();
  `;
  await run(process.execPath, ['--input-type=module', '-e', code], { maxBuffer: 1 << 20 });
}

async function senderHolds(client) {
  const t = await client.unary('getTable', { tableType: 0, family: { afi: 1, safi: 1 } });
  return Number(t.numDestination);
}

/** Sender-side session watch: address → time (performance.now) it went Established. */
function watchSessions(client) {
  const up = new Map();
  const waiters = [];
  const stream = client.serverStream('watchEvent', { peer: {} });
  (async () => {
    try {
      for await (const ev of stream) {
        if (ev.event.case !== 'peer') continue;
        const p = ev.event.value.peer;
        const addr = p?.conf?.neighborAddress;
        if (!addr) continue;
        if (p.state?.sessionState === 6) {
          if (!up.has(addr)) up.set(addr, performance.now());
          for (const w of waiters.filter((x) => x.addr === addr)) w.resolve(up.get(addr));
        } else {
          up.delete(addr);
        }
      }
    } catch {
      // cancelled at the end
    }
  })();
  return {
    cancel: () => stream.cancel(),
    established(addr, timeoutMs = 60000) {
      if (up.has(addr)) return Promise.resolve(up.get(addr));
      return new Promise((resolve, reject) => {
        const w = { addr, resolve };
        waiters.push(w);
        setTimeout(() => reject(new Error(`session with ${addr} not established after ${timeoutMs} ms`)), timeoutMs).unref();
      });
    },
  };
}

/** The shell code that prints the namespace's IPv4 prefix count (main and local tables, merged while no rules exist). */
const PREFIXES = 'while read -r k v _; do [ "$k" = Prefixes: ] && echo "$v" && break; done </proc/net/fib_triestat';

/**
 * Resolves with performance.now() once the namespace's IPv4 tables hold
 * `base + n` prefixes. The count runs in a shell loop of its own inside the
 * namespace, reading the kernel's trie statistics: 10 ms of kernel time per
 * read at 100,000 routes, where rendering /proc/net/route costs 100 ms. (`ip monitor` was tried first: under a burst of 100,000
 * routes it loses notifications.)
 */
function kernelDone(ns, base, n) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const want = base + n;
    // A read costs about 0.1 ms per 1,000 routes: every 20 ms while that is
    // cheap, every 100 ms for large tables (at most ~10% of a CPU either way).
    const every = n <= 20_000 ? 0.02 : 0.1;
    const script = `while :; do [ "$(${PREFIXES})" -ge ${want} ] && echo DONE && exit; sleep ${every}; done`;
    const mon = spawn('ip', ['netns', 'exec', ns, 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'ignore'], detached: true });
    const kill = () => {
      try {
        process.kill(-mon.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    // The loop outlives its namespace: if this process dies first, it must not
    // go on taking CPU from whatever runs next.
    const forget = onProcessExit(kill);
    const finish = (t, err) => {
      if (settled) return;
      settled = true;
      kill();
      forget();
      if (err) reject(err);
      else resolve(t);
    };
    mon.stdout.on('data', (d) => {
      if (d.toString().includes('DONE')) finish(performance.now());
    });
    setTimeout(() => finish(0, new Error(`${ns}: ${n} routes not in the kernel after 180 s`)), 180000).unref();
  });
}

/** IPv4 prefixes in a namespace's tables, as kernelDone counts them. */
async function mainRoutes(ns) {
  const { stdout } = await run('ip', ['netns', 'exec', ns, 'sh', '-c', PREFIXES]);
  return Number(stdout.trim());
}

async function countKernel(ns, proto) {
  const { stdout } = await run('sh', ['-c', `ip -n ${ns} -4 route show proto ${proto} | wc -l`]);
  return Number(stdout.trim());
}

async function addSenderPeer(client, addr, asn) {
  await client.unary('addPeer', {
    peer: {
      conf: { neighborAddress: addr, peerAsn: asn },
      timers: { config: { keepaliveInterval: 10n, holdTime: 30n, connectRetry: 1n } },
      afiSafis: [{ config: { family: { afi: 1, safi: 1 }, enabled: true } }],
    },
  });
}

/**
 * The floor receiver's data path (see the header): BGP UPDATEs from a BMP
 * stream become IPv4 routes of our protocol via the UPDATE's NEXT_HOP, main
 * table, written 256 per frame to the relay. `learn` takes one BMP chunk.
 */
function floorPath(ns) {
  const relay = spawn('ip', ['netns', 'exec', ns, 'perl', dataplane.RELAY_SCRIPT], { stdio: ['pipe', 'ignore', 'inherit'] });
  const SLOTS = 1 << 19; // open addressing, for up to ~200,000 prefixes
  const addrs = new Uint32Array(SLOTS);
  const lens = new Uint8Array(SLOTS); // prefix length + 1; 0 is an empty slot
  const hops = new Uint32Array(SLOTS);
  const MSG = 44; // nlmsghdr 16, rtmsg 12, RTA_DST 8, RTA_GATEWAY 8
  let frame = Buffer.alloc(4 + 256 * MSG);
  let at = 4;
  let seq = 0;
  const flush = () => {
    if (at === 4) return;
    frame.writeUInt16LE(frame.readUInt16LE(at - MSG + 6) | 0x4, at - MSG + 6); // the last asks for an ack
    frame.writeUInt32LE(at - 4, 0);
    relay.stdin.write(frame.subarray(0, at));
    frame = Buffer.alloc(4 + 256 * MSG);
    at = 4;
  };
  const route = (dst, len, gw) => {
    frame.writeUInt32LE(MSG, at);
    frame.writeUInt16LE(24, at + 4); // RTM_NEWROUTE
    frame.writeUInt16LE(0x1 | 0x400 | 0x100, at + 6); // request, create, replace
    frame.writeUInt32LE(++seq, at + 8);
    frame.writeUInt32LE(0, at + 12);
    const r = at + 16;
    frame.set([2, len, 0, 0, 254, 201, 0, 1], r); // AF_INET, dst len, src len, tos, main, proto 201, universe, unicast
    frame.writeUInt32LE(0, r + 8);
    frame.writeUInt32LE(0x00010008, r + 12); // RTA_DST, 8 bytes
    frame.writeUInt32BE(dst, r + 16);
    frame.writeUInt32LE(0x00050008, r + 20); // RTA_GATEWAY, 8 bytes
    frame.writeUInt32BE(gw, r + 24);
    at += MSG;
    if (at === frame.length) flush();
  };
  const update = (b, start, end) => {
    let p = start + 19;
    p += 2 + b.readUInt16BE(p); // withdrawn routes: none from this sender
    const attrEnd = p + 2 + b.readUInt16BE(p);
    p += 2;
    let gw = 0;
    while (p < attrEnd) {
      const ext = b[p] & 0x10;
      const v = p + (ext ? 4 : 3);
      if (b[p + 1] === 3) gw = b.readUInt32BE(v);
      p = v + (ext ? b.readUInt16BE(p + 2) : b[p + 2]);
    }
    for (p = attrEnd; p < end; ) {
      const len = b[p];
      const n = (len + 7) >> 3;
      let dst = 0;
      for (let i = 0; i < 4; i++) dst = (dst << 8) | (i < n ? b[p + 1 + i] : 0);
      dst >>>= 0;
      p += 1 + n;
      for (let h = (Math.imul(dst ^ len, 0x9e3779b1) >>> 13) & (SLOTS - 1); ; h = (h + 1) & (SLOTS - 1)) {
        if (lens[h] === 0) {
          addrs[h] = dst;
          lens[h] = len + 1;
        } else if (addrs[h] !== dst || lens[h] !== len + 1) {
          continue;
        } else if (hops[h] === gw) {
          break;
        }
        hops[h] = gw;
        route(dst, len, gw);
        break;
      }
    }
  };
  let carry = Buffer.alloc(0);
  return {
    learn(chunk) {
      const b = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      let o = 0;
      for (let len; b.length - o >= 6 && b.length - o >= (len = b.readUInt32BE(o + 1)); o += len) {
        // Route monitoring, pre-policy: the UPDATE after the 6-byte common and 42-byte per-peer headers.
        if (b[o + 5] === 0 && (b[o + 7] & 0x40) === 0) update(b, o + 48, o + len);
      }
      carry = Buffer.from(b.subarray(o));
      flush();
    },
    close: () => relay.stdin.end(),
  };
}

/** Receivers: start(ns, addr) → { done(n) → Promise<time>, stop() }. */
const receivers = {
  async gobgp_rib(ns, addr, sock) {
    const d = new GobgpDaemon({ netns: ns, apiAddress: `unix://${sock}` });
    await d.start();
    const c = new GobgpClient(d.address);
    await c.unary('startBgp', { global: { asn: ASN.gobgp_rib, routerId: addr, listenPort: 179 } });
    await addSenderPeer(c, SENDER.addr, SENDER.asn);
    return {
      done: (n) => ribHolds(c, n),
      pid: () => d.pid,
      async stop() {
        c.close();
        await d.stop();
      },
    };
  },

  async terrace(ns, addr, sock) {
    if (!dataplane) return null;
    const speaker = new GobgpSpeaker({ daemon: { netns: ns, apiAddress: `unix://${sock}` } });
    const sync = new dataplane.RouteSync({ netns: ns, resyncIntervalMs: 0, logger: quiet });
    // As the agent does at start-up (its blackholes and any routes left from
    // before): the kernel is read and the batch process runs before peers come.
    await sync.resync();
    await speaker.start({ asn: ASN.terrace, routerId: addr });
    // The agent's path: learned events become kernel routes as they arrive,
    // through the agent's own bookkeeping (LearnedRoutes, as its reconciler runs it).
    const learned = new LearnedRoutes(sync, (e) => console.error(`terrace: route refused: ${e.message}`));
    learned.setContext({ originated: new Set(), selfAddresses: new Set([packIP(parseIP(addr))]) }, new Set());
    const follow = (async () => {
      for await (const batch of speaker.learned()) learned.apply(batch);
    })();
    await speaker.setPeers([{ address: parseIP(SENDER.addr), asn: SENDER.asn, ...TIMERS, policy: POLICY }]);
    return {
      ...withRibPoll(speaker.client, (n) => kernelHolds(ns, n)),
      pid: () => speaker.daemon?.pid,
      async stop() {
        await speaker.stop();
        await follow;
        await sync.close();
      },
    };
  },

  async terrace_learn(ns, addr, sock) {
    const speaker = new GobgpSpeaker({ daemon: { netns: ns, apiAddress: `unix://${sock}` } });
    await speaker.start({ asn: ASN.terrace_learn, routerId: addr });
    let want = Infinity;
    /** @type {(t: number) => void} */
    let allSelected;
    /** @type {(e: Error) => void} */
    let notSelected;
    const learnt = new Promise((resolve, reject) => {
      allSelected = resolve;
      notSelected = reject;
    });
    learnt.catch(() => undefined);
    // The agent's consumer, its routes going nowhere instead of to route sync.
    const learned = new LearnedRoutes({ upsert() {}, remove() {} }, (e) => console.error(`terrace_learn: route refused: ${e.message}`));
    learned.setContext({ originated: new Set(), selfAddresses: new Set([packIP(parseIP(addr))]) }, new Set());
    const follow = (async () => {
      for await (const batch of speaker.learned()) {
        learned.apply(batch);
        if (learned.installedCount >= want) allSelected(performance.now());
      }
    })();
    await speaker.setPeers([{ address: parseIP(SENDER.addr), asn: SENDER.asn, ...TIMERS, policy: POLICY }]);
    return {
      ...withRibPoll(speaker.client, (n) => {
        want = n;
        setTimeout(() => notSelected(new Error(`${ns}: ${n} prefixes not selected after 180 s`)), 180000).unref();
        return learnt;
      }),
      pid: () => speaker.daemon?.pid,
      lagName: 'learn_lag_s',
      async stop() {
        await speaker.stop();
        await follow;
      },
    };
  },

  async floor(ns, addr, sock) {
    // floorPath writes netlink's host byte order as little-endian.
    if (!dataplane || endianness() !== 'LE') return null;
    const d = new GobgpDaemon({ netns: ns, apiAddress: `unix://${sock}` });
    await d.start();
    const c = new GobgpClient(d.address);
    const path = floorPath(ns);
    const station = await listenTcp({ host: '127.0.0.1', port: 0, netns: ns });
    station.on('connection', (conn) => conn.on('data', (chunk) => path.learn(chunk)));
    // As terrace's gobgpd runs (GobgpSpeaker): multipath on, pre-policy BMP to the station.
    await c.unary('startBgp', { global: { asn: ASN.floor, routerId: addr, listenPort: 179, useMultiplePaths: true } });
    await c.unary('addBmp', { address: '127.0.0.1', port: /** @type {import('node:net').AddressInfo} */ (station.address()).port, policy: 0, StatisticsTimeout: 5, SysName: 'floor' });
    await addSenderPeer(c, SENDER.addr, SENDER.asn);
    return {
      ...withRibPoll(c, (n) => kernelHolds(ns, n)),
      pid: () => d.pid,
      async stop() {
        path.close();
        station.close();
        c.close();
        await d.stop();
      },
    };
  },

  async frr(ns, addr) {
    const r = await startFrr(lab, ns, {
      hostname: 'rx',
      asn: ASN.frr,
      routerId: addr,
      neighbors: [{ address: SENDER.addr, asn: SENDER.asn, keepalive: 10, hold: 30 }],
    });
    return { done: (n) => kernelHolds(ns, n), stop: () => r.stop() };
  },

  async bird(ns, addr) {
    const conf = join(work, `${ns}.conf`);
    writeFileSync(
      conf,
      `router id ${addr};
protocol device { scan time 10; }
protocol kernel {
  ipv4 { import none; export all; };
  merge paths on;
}
protocol bgp sender {
  local ${addr} as ${ASN.bird};
  neighbor ${SENDER.addr} as ${SENDER.asn};
  hold time 30; keepalive time 10; connect retry time 1;
  ipv4 { import all; export none; };
}
`,
    );
    const d = lab.startDaemon(ns, { name: `bird@${ns}`, command: 'bird', args: ['-f', '-c', conf, '-s', join(work, `${ns}.ctl`)] });
    await waitFor(`bird in ${ns}`, () => {
      if (!d.running()) throw new Error(`bird exited: ${d.output()}`);
      return run('birdc', ['-s', join(work, `${ns}.ctl`), 'show', 'status']).then(() => true);
    });
    return { done: (n) => kernelHolds(ns, n), stop: () => d.stop() };
  },
};

receivers.terrace_bird = async (ns, addr) => {
  if (!dataplane) return null;
  const errors = [];
  const speaker = new BirdSpeaker({
    daemon: { configPath: join(work, `${ns}.conf`), socketPath: join(work, `${ns}.ctl`), netns: ns },
    onError: (e) => errors.push(e.message),
  });
  // The agent's route sync, as on a BIRD node: it holds blackholes and pod
  // routes only (BIRD owns the learned ones), but it runs.
  const sync = new dataplane.RouteSync({ netns: ns, resyncIntervalMs: 0, logger: quiet });
  await sync.resync();
  await speaker.setPeers([{ address: parseIP(SENDER.addr), asn: SENDER.asn, ...TIMERS, policy: POLICY }]);
  await speaker.start({ asn: ASN.terrace_bird, routerId: addr });
  // The agent follows learned() for its status even though BIRD writes the kernel.
  let reported = 0;
  const follow = (async () => {
    for await (const batch of speaker.learned()) reported += batch.length;
  })();
  return {
    done: (n) => kernelHolds(ns, n),
    pid: () => speaker.daemon?.pid,
    async stop() {
      await speaker.stop();
      await follow.catch(() => undefined);
      await sync.close();
      if (errors.length) console.error(`terrace_bird: ${errors.slice(0, 5).join('; ')}`);
      void reported;
    },
  };
};

async function measure(kind, n, idx, sender, sessions) {
  const ns = await lab.addNamespace(`${kind.replace('_', '')}${n}`);
  const addr = `198.18.0.${10 + idx}`;
  await lab.connect(ns, lab.nsName('fabric'), `${addr}/24`);
  const rx = await receivers[kind](ns, addr, join(work, `${kind}-${n}.sock`));
  if (!rx) {
    await lab.removeNamespace(ns);
    return null;
  }
  // A receiver's gobgpd is ours to stop, by pid, even if this process dies
  // first (the lab stops FRR and BIRD itself).
  const forget = onProcessExit(() => killPid(rx.pid?.()));
  try {
    const finished = rx.done(n);
    await new Promise((r) => setTimeout(r, 200)); // let ip monitor subscribe
    await addSenderPeer(sender, addr, ASN[kind]);
    const t0 = await sessions.established(addr);
    const c0 = cpuSnapshot(rx.pid?.());
    const t1 = await finished;
    const c1 = cpuSnapshot(rx.pid?.());
    const s = Math.max(0, (t1 - t0) / 1000);
    const r2 = (x) => Number(x.toFixed(2));
    const extra = kind in KERNEL_PROTO ? { kernel_routes: await countKernel(ns, KERNEL_PROTO[kind]) } : {};
    extra.cpu_s = r2(c1.machine - c0.machine);
    if (rx.pid) extra.daemon_cpu_s = r2(c1.daemon - c0.daemon);
    if (rx.ribDone) {
      extra.agent_cpu_s = r2(c1.agent - c0.agent);
      extra.rib_s = Number((((await rx.ribDone()) - t0) / 1000).toFixed(3));
      extra[rx.lagName ?? 'kernel_lag_s'] = Number((s - extra.rib_s).toFixed(3));
    }
    log({ receiver: kind, prefixes: n, seconds: Number(s.toFixed(3)), ...extra });
    return Number(s.toFixed(3));
  } finally {
    await sender.unary('deletePeer', { address: addr }).catch(() => undefined);
    await rx.stop().catch((e) => console.error(`${kind}: stop: ${e.message}`));
    forget();
    await lab.removeNamespace(ns).catch(() => undefined);
  }
}

/** SIGKILL to a pid that may be gone already (only at exit: no waiting there). */
function killPid(pid) {
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

let sender;
let senderDaemon;
let sessions;
const runs = [];
try {
  const fabric = await lab.addBridge('fabric');
  const sndNs = await lab.addNamespace('snd');
  await lab.connect(sndNs, fabric, `${SENDER.addr}/24`);
  senderDaemon = new GobgpDaemon({ netns: sndNs, apiAddress: `unix://${join(work, 'snd.sock')}` });
  onProcessExit(() => killPid(senderDaemon.pid));
  await senderDaemon.start();
  sender = new GobgpClient(senderDaemon.address);
  await sender.unary('startBgp', { global: { asn: SENDER.asn, routerId: SENDER.addr, listenPort: 179 } });
  sessions = watchSessions(sender);
  if (!dataplane) console.error('ingest: @terrace/dataplane RouteSync not built; terrace_s is null');
  let held = 0;
  let idx = 0;
  for (const n of SIZES) {
    await inject(senderDaemon.address, held, n);
    held = await senderHolds(sender);
    if (held !== n) throw new Error(`sender holds ${held} prefixes, wanted ${n}`);
    log({ sender_holds: held });
    const row = { prefixes: n, terrace_s: null, frr_s: null, bird_s: null, terrace_bird_s: null, gobgp_rib_s: null };
    for (const kind of KINDS) {
      idx += 1;
      row[`${kind}_s`] = await measure(kind, n, idx, sender, sessions);
    }
    runs.push(row);
  }
} finally {
  sessions?.cancel();
  sender?.close();
  await senderDaemon?.stop();
  await lab.destroy();
  rmSync(work, { recursive: true, force: true });
}
console.log(JSON.stringify({ bench: 'ingest', runs }));
