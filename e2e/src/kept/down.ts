/**
 * `make lab-down` (and the first step of `make lab`): the keeper is asked to
 * tear its lab down (SIGUSR1: agents and controller first, as every lab
 * does); whatever is still there afterwards (a keeper that was killed, or one
 * that did not finish in time) is removed from the records: recorded PIDs
 * still running their recorded command, every process inside a namespace of
 * the run's prefix, those namespaces, the recorded directories. Nothing is
 * ever looked up or stopped by program name.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
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
}

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

/** Kills what is left of a lab of `prefix` and deletes its namespaces. */
async function sweep(prefix: string, lab: KeptLab | undefined): Promise<void> {
  for (const d of lab?.daemons ?? []) if (stillRunning(d)) signal(d.pid, 'SIGKILL');
  const namespaces = await listNamespaces(prefix);
  for (const ns of namespaces) for (const pid of pidsIn(ns)) signal(pid, 'SIGKILL');
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
  if (prefix !== undefined) await sweep(prefix, lab);
  for (const f of [LAB_FILE, ENV_FILE, KEEPER_FILE]) rmSync(join(dir, f), { force: true });
  return { prefix, graceful, left: prefix === undefined ? [] : await listNamespaces(prefix) };
}
