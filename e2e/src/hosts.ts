/**
 * Pieces both labs (the one-rack TerraceLab and the FabricLab) build hosts
 * from: etcd on the management bridge, a node's gobgpd or BIRD sidecar, and
 * pings from a namespace. Each takes the testkit lab it runs in; nothing here
 * knows a lab's address plan.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listNamespaces, type Daemon, type Lab } from '@terrace/testkit';
import { GOBGP_API } from './plan.js';
import { runIn, waitUntil } from './proc.js';

/** A node's gobgpd sidecar: empty, its agent configures it over the API on the namespace's loopback. */
export function spawnGobgpd(kit: Lab, name: string, ns: string): Daemon {
  return kit.startDaemon(ns, {
    name: `gobgpd@${name}`,
    command: 'gobgpd',
    args: [`--api-hosts=${GOBGP_API}`, '--pprof-disable', '--log-level=warn'],
  });
}

/**
 * Writes what a fresh BIRD sidecar reads before its agent renders the real
 * file (the device protocol has the name the agent's file gives it).
 */
export function writeInitialBirdConf(birdDir: string, routerId: string): void {
  writeFileSync(join(birdDir, 'bird.conf'), `router id ${routerId};\nprotocol device terrace_device { }\n`);
}

/**
 * Starts a BIRD sidecar on `birdDir`'s bird.conf and control socket bird.ctl;
 * with `recovery`, -R (graceful-restart recovery). Resolves once the socket exists.
 */
export async function startBirdSidecar(kit: Lab, ns: string, name: string, birdDir: string, recovery = false): Promise<Daemon> {
  const sock = join(birdDir, 'bird.ctl');
  const bird = kit.startDaemon(ns, {
    name: `bird@${name}`,
    command: 'bird',
    args: ['-f', ...(recovery ? ['-R'] : []), '-c', join(birdDir, 'bird.conf'), '-s', sock],
  });
  await waitUntil(`bird on ${name}`, () => {
    if (!bird.running()) throw new Error(`bird on ${name} exited: ${bird.output().slice(-2000)}`);
    return existsSync(sock);
  }, 10000, 20);
  return bird;
}

/**
 * SIGKILLs, by PID, every bird whose command line names one of these control
 * sockets, whichever process started it (an agent that was SIGKILLed leaves
 * its bird running). Synchronous, so process-exit hooks can call it.
 */
export function killBirdsOn(socks: readonly string[]): void {
  if (socks.length === 0) return;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv.includes('-s') && socks.some((s) => argv.includes(s))) process.kill(Number(entry), 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/**
 * Addresses of the BGP sessions a node's speaker has Established, from its
 * own control channel inside its namespace: birdc for a BIRD node, the gobgp
 * CLI for a GoBGP node. Empty when the speaker does not answer.
 */
export async function speakerEstablished(node: { ns: string; birdDir?: string }): Promise<Set<string>> {
  if (node.birdDir) {
    const r = await runIn(node.ns, 'birdc', ['-s', join(node.birdDir, 'bird.ctl'), 'show', 'protocols', 'all'], { timeoutMs: 5000 });
    if (r.code !== 0) return new Set();
    // One block per protocol: "BGP state: Established" then "Neighbor address: A".
    const up = new Set<string>();
    for (const block of r.stdout.split(/\n(?=\S)/)) {
      const addr = /Neighbor address:\s+(\S+)/.exec(block)?.[1];
      if (addr && /BGP state:\s+Established/.test(block)) up.add(addr);
    }
    return up;
  }
  const r = await runIn(node.ns, 'gobgp', ['-j', 'neighbor'], { timeoutMs: 5000 });
  if (r.code !== 0) return new Set();
  const peers = JSON.parse(r.stdout || '[]') as { state?: { neighbor_address?: string; session_state?: number } }[];
  // session_state 6 is ESTABLISHED in GoBGP's API.
  return new Set(peers.filter((p) => p.state?.session_state === 6).map((p) => p.state?.neighbor_address ?? ''));
}

/** One ICMP echo (v4 or v6, by the address) from namespace `fromNs` to `ip`, 1 s to answer. */
export async function pingOnce(fromNs: string, ip: string): Promise<boolean> {
  const r = await runIn(fromNs, 'ping', ['-c', '1', '-W', '1', '-n', '-q', ip], { timeoutMs: 5000 });
  return r.code === 0;
}

/** Pings until one answer comes (routes may still be propagating) or the time is up. */
export async function waitForPing(fromNs: string, ip: string, timeoutMs = 15000): Promise<void> {
  await waitUntil(`ping ${fromNs} → ${ip}`, () => pingOnce(fromNs, ip), timeoutMs, 100);
}

export interface PingRun {
  transmitted: number;
  received: number;
  lost: number;
  /** The longest time without a reply, ms. */
  longestGapMs: number;
}

/**
 * Pings `ip` from `fromNs` every 10 ms around `disrupt()` and for `afterMs`
 * after it returns; resolves with the echo counts and the longest time
 * without a reply (ping paces itself down while unanswered, so lost echoes
 * undercount an outage; the gap does not).
 */
export async function pingsDuring(fromNs: string, ip: string, disrupt: () => Promise<void>, afterMs = 5000): Promise<PingRun> {
  await waitForPing(fromNs, ip, 10000);
  const ping = spawn('ip', ['netns', 'exec', fromNs, 'ping', '-n', '-D', '-i', '0.01', '-W', '1', ip], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  ping.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise((r) => ping.once('close', r));
  try {
    await new Promise((r) => setTimeout(r, 300));
    await disrupt();
    await new Promise((r) => setTimeout(r, afterMs));
  } finally {
    ping.kill('SIGINT');
    await done;
  }
  const end = Date.now();
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  if (!m) throw new Error(`ping printed no summary: ${out.slice(-2000)}`);
  const replies = [...out.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from/gm)].map((r) => Number(r[1]) * 1000);
  replies.push(end);
  let gap = 0;
  for (let i = 1; i < replies.length; i++) gap = Math.max(gap, (replies[i] as number) - (replies[i - 1] as number));
  return { transmitted: Number(m[1]), received: Number(m[2]), lost: Number(m[1]) - Number(m[2]), longestGapMs: Math.round(gap) };
}

/**
 * Tears a lab down and lists the namespaces of its run that are still there,
 * which a test's afterAll expects to be none.
 */
export async function destroyLab(lab: { readonly kit: Lab; destroy(): Promise<void> } | undefined): Promise<string[]> {
  if (!lab) return [];
  const prefix = lab.kit.prefix;
  await lab.destroy();
  return listNamespaces(prefix);
}
