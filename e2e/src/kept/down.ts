/**
 * `make lab-down` (and the first step of `make lab`): the keeper is asked to
 * tear its lab down (SIGUSR1: agents and controller first, as every lab
 * does); whatever is still there afterwards (a keeper that was killed, or one
 * that did not finish in time) is removed from the records: recorded PIDs
 * still running their recorded command, every process inside a namespace of
 * the run's prefix, those namespaces, the recorded directories. Nothing is
 * ever looked up or stopped by program name. The processes are asked to stop
 * (SIGTERM) before they are killed: a namespace may hold a user's shell too,
 * which then gets to exit on its own. What was stopped is reported.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listNamespaces } from '@terrace/testkit';
import { sleep } from '../proc.js';
import { ENV_FILE, KEEPER_FILE, LAB_FILE, readJson, stillRunning, type KeeperRecord, type KeptLab, type RecordedProcess } from './state.js';

export interface DownReport {
  /** The prefix of the lab that was removed; undefined when there was none. */
  prefix: string | undefined;
  /** Whether the keeper tore its lab down itself (false: the sweep did it all). */
  graceful: boolean;
  /** Namespaces of the prefix still present afterwards (should be none). */
  left: string[];
  /** What the sweep stopped, one line each (`pid 123 sleep in ns-x: stopped` or `: killed`). */
  stopped: string[];
}

/** How long processes have after SIGTERM before SIGKILL. */
const TERM_GRACE_MS = 3000;

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone meanwhile
  }
}

async function waitGone(p: RecordedProcess, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (stillRunning(p)) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

/** PIDs of the processes inside a namespace (`ip netns pids`), none if it is gone. */
function pidsIn(ns: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => /^\d+$/.test(l.trim()))
      .map(Number);
  } catch {
    return [];
  }
}

function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops what is left of a lab of `prefix` (SIGTERM, then SIGKILL) and deletes its namespaces; returns what it stopped. */
async function sweep(prefix: string, lab: KeptLab | undefined): Promise<string[]> {
  const targets = new Map<number, string>();
  for (const d of lab?.daemons ?? []) if (stillRunning(d)) targets.set(d.pid, `pid ${d.pid} ${d.name}`);
  const namespaces = await listNamespaces(prefix);
  for (const ns of namespaces) for (const pid of pidsIn(ns)) if (!targets.has(pid)) targets.set(pid, `pid ${pid} ${commOf(pid)} in ${ns}`);
  for (const pid of targets.keys()) signal(pid, 'SIGTERM');
  const termDeadline = Date.now() + TERM_GRACE_MS;
  while ([...targets.keys()].some(running) && Date.now() < termDeadline) await sleep(100);
  const stopped: string[] = [];
  for (const [pid, what] of targets) {
    const killed = running(pid);
    if (killed) signal(pid, 'SIGKILL');
    stopped.push(`${what}: ${killed ? 'killed' : 'stopped'}`);
  }
  // A process in its last moments still pins the namespace: give them a moment.
  const deadline = Date.now() + 5000;
  while (namespaces.some((ns) => pidsIn(ns).length > 0) && Date.now() < deadline) await sleep(50);
  for (const ns of namespaces) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // gone meanwhile
    }
  }
  const dirs = [...(lab?.dirs ?? []), ...readdirSync(tmpdir()).filter((f) => f.startsWith(`terrace-lab-${prefix}`)).map((f) => join(tmpdir(), f))];
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  return stopped;
}

export async function labDown(dir: string): Promise<DownReport> {
  const keeper = readJson<KeeperRecord>(dir, KEEPER_FILE);
  const lab = readJson<KeptLab>(dir, LAB_FILE);
  const prefix = keeper?.prefix ?? lab?.prefix;
  let graceful = false;
  if (keeper && stillRunning(keeper)) {
    signal(keeper.pid, 'SIGUSR1');
    graceful = await waitGone(keeper, 60000);
    if (!graceful) {
      // Its exit hooks kill every daemon and delete the namespaces.
      signal(keeper.pid, 'SIGTERM');
      if (!(await waitGone(keeper, 10000))) signal(keeper.pid, 'SIGKILL');
    }
  }
  const stopped = prefix !== undefined ? await sweep(prefix, lab) : [];
  for (const f of [LAB_FILE, ENV_FILE, KEEPER_FILE]) rmSync(join(dir, f), { force: true });
  return { prefix, graceful, left: prefix === undefined ? [] : await listNamespaces(prefix), stopped };
}
