/**
 * `make lab` and `make lab-down` (e2e/src/kept): the code both run, on a
 * state directory of the test's own. A lab comes up in a detached keeper
 * process; `.lab/env` is sourced by a real shell and every value is checked
 * against the running lab, from inside LAB_FABRIC_NS; a second `up` replaces
 * the first without leaving any of its namespaces, daemons or directories;
 * `down` after the keeper was SIGKILLed still removes everything (from the
 * recorded PIDs and the run's namespaces) and leaves no PID file.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listNamespaces } from '@terrace/testkit';
import { labDown } from '../src/kept/down.js';
import { KEEPER_FILE, stillRunning, type KeeperRecord, type KeptLab } from '../src/kept/state.js';
import { labUp } from '../src/kept/up.js';
import { BIN, runIn, waitUntil } from '../src/index.js';
import { AGENT_METRICS_PORT, CONTROLLER_METRICS_PORT, ETCD_IP, STATUS_PORT } from '../src/plan.js';

const dir = mkdtempSync(join(tmpdir(), 'terrace-kept-lab-'));
const prefixes: string[] = [];

afterAll(async () => {
  await labDown(dir);
  for (const p of prefixes) expect(await listNamespaces(p)).toEqual([]);
  rmSync(dir, { recursive: true, force: true });
}, 120000);

/** The env file as a shell sees it after `source`: NAME=value per exported variable. */
function sourced(): Record<string, string> {
  const names = ['LAB_PREFIX', 'LAB_FABRIC_NS', 'TERRACE_ETCD_ENDPOINTS', 'TERRACE_CLUSTER', 'LAB_STATUS_URL', 'LAB_METRICS_URLS'];
  // set -u: a variable the file does not define fails the shell; env -i: nothing comes from ours.
  const script = `set -eu; . '${join(dir, 'env')}'; ${names.map((n) => `printf '%s=%s\\n' ${n} "$${n}"`).join('; ')}; env | grep -c '^LAB_\\|^TERRACE_'`;
  const out = execFileSync('env', ['-i', 'PATH=/usr/bin:/bin', 'bash', '--norc', '--noprofile', '-c', script], { encoding: 'utf8' }).trim().split('\n');
  const exported = Number(out.pop());
  expect(exported).toBe(names.length);
  return Object.fromEntries(out.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

function keeper(): KeeperRecord {
  return JSON.parse(readFileSync(join(dir, KEEPER_FILE), 'utf8')) as KeeperRecord;
}

/** The session a process leads or belongs to (/proc/PID/stat field 6). */
function sessionOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
}

async function expectGone(lab: KeptLab, keeperRec: KeeperRecord): Promise<void> {
  expect(await listNamespaces(lab.prefix)).toEqual([]);
  expect(stillRunning(keeperRec)).toBe(false);
  expect(lab.daemons.filter(stillRunning).map((d) => `${d.name} ${d.pid}`)).toEqual([]);
  expect(lab.dirs.filter((d) => existsSync(d))).toEqual([]);
}

describe('make lab / make lab-down', () => {
  let first: KeptLab;
  let firstKeeper: KeeperRecord;

  test('the lab comes up in a detached keeper, and .lab/env sourced by a shell names it', async () => {
    first = await labUp(dir);
    prefixes.push(first.prefix);
    firstKeeper = keeper();
    expect(sessionOf(firstKeeper.pid)).toBe(firstKeeper.pid);
    expect(sessionOf(firstKeeper.pid)).not.toBe(sessionOf(process.pid));
    expect(first.daemons.length).toBeGreaterThanOrEqual(10);
    expect(first.daemons.filter((d) => !stillRunning(d))).toEqual([]);

    const env = sourced();
    const nodeIps = first.nodes.map((n) => n.ip);
    expect(env).toEqual({
      LAB_PREFIX: first.prefix,
      LAB_FABRIC_NS: `${first.prefix}fabric`,
      TERRACE_ETCD_ENDPOINTS: `http://${ETCD_IP}:2379`,
      TERRACE_CLUSTER: 'lab',
      LAB_STATUS_URL: `http://${ETCD_IP}:${STATUS_PORT}/`,
      LAB_METRICS_URLS: [...nodeIps.map((ip) => `http://${ip}:${AGENT_METRICS_PORT}/metrics`), `http://${ETCD_IP}:${CONTROLLER_METRICS_PORT}/metrics`].join(' '),
    });
    expect(nodeIps).toEqual(['198.18.0.11', '198.18.0.12', '198.18.0.13']);
  }, 240000);

  test('from LAB_FABRIC_NS, terracectl reaches etcd with the env alone, and every host of a URL answers', async () => {
    const env = sourced();
    const ns = env.LAB_FABRIC_NS as string;
    const r = await runIn(ns, process.execPath, [BIN.ctl, 'get', 'nodes', '-o', 'json'], {
      env: { PATH: process.env.PATH, TERRACE_ETCD_ENDPOINTS: env.TERRACE_ETCD_ENDPOINTS, TERRACE_CLUSTER: env.TERRACE_CLUSTER },
    });
    expect(r.stderr).toBe('');
    const names = (JSON.parse(r.stdout) as { items: { metadata: { name: string } }[] }).items.map((n) => n.metadata.name).sort();
    expect(names).toEqual(['node-1', 'node-2', 'node-3']);
    expect((await runIn(ns, 'curl', ['-fsS', '--max-time', '5', `${env.TERRACE_ETCD_ENDPOINTS}/health`])).code).toBe(0);
    const hosts = new Set([env.LAB_STATUS_URL as string, ...(env.LAB_METRICS_URLS as string).split(' ')].map((u) => new URL(u).hostname));
    for (const h of [...hosts, first.tor.ip]) expect(`${h}: ${(await runIn(ns, 'ping', ['-c', '1', '-W', '2', '-n', h])).code}`).toBe(`${h}: 0`);
    // Every URL answers from the fabric namespace: each agent's and the controller's metrics, and the page.
    for (const u of [...(env.LAB_METRICS_URLS as string).split(' '), env.LAB_STATUS_URL as string]) {
      await waitUntil(`${u} from ${ns}`, async () => (await runIn(ns, 'curl', ['-fsS', '-o', '/dev/null', '--max-time', '3', u])).code === 0, 30000, 500);
    }
    // The pods route to each other across the nodes, as the guide shows.
    const [a, , c] = first.pods;
    await waitUntil(`ping ${a?.name} → ${c?.name}`, async () => (await runIn(a?.ns ?? '', 'ping', ['-c', '1', '-W', '1', c?.ip ?? ''])).code === 0, 20000, 200);
  }, 60000);

  test('a second make lab replaces the first: nothing of the first is left', async () => {
    const second = await labUp(dir);
    prefixes.push(second.prefix);
    expect(second.prefix).not.toBe(first.prefix);
    await expectGone(first, firstKeeper);
    expect(second.daemons.filter((d) => !stillRunning(d))).toEqual([]);
    expect(sourced().LAB_PREFIX).toBe(second.prefix);
    expect(readFileSync(join(dir, 'lab.log'), 'utf8')).not.toContain(first.prefix);
  }, 240000);

  test('make lab-down after the keeper was killed still removes every daemon, namespace and PID file', async () => {
    const lab = JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8')) as KeptLab;
    const k = keeper();
    process.kill(k.pid, 'SIGKILL');
    await waitUntil('the keeper gone', () => !stillRunning(k), 10000);
    // Its daemons outlive it: only the records can find them now.
    expect(lab.daemons.filter(stillRunning).length).toBeGreaterThan(0);
    // A user's shell in the fabric namespace: asked to stop before it is killed, so its trap runs.
    const mark = join(dir, 'shell-got-sigterm');
    const shell = spawn('ip', ['netns', 'exec', lab.fabricNs, 'bash', '-c', `trap 'echo term > ${mark}; exit 0' TERM; while :; do sleep 0.1; done`], { stdio: 'ignore', detached: true });
    shell.unref();
    await waitUntil('the shell in the namespace', () => readFileSync(`/proc/${shell.pid}/cmdline`, 'utf8').includes('trap'), 10000, 100);
    const r = await labDown(dir);
    expect({ ...r, stopped: [] }).toEqual({ prefix: lab.prefix, graceful: false, left: [], stopped: [] });
    expect(r.stopped).toContain(`pid ${shell.pid} bash in ${lab.fabricNs}: stopped`);
    expect(r.stopped.length).toBeGreaterThan(1);
    expect(readFileSync(mark, 'utf8')).toBe('term\n');
    rmSync(mark);
    await expectGone(lab, k);
    expect(readdirSync(dir)).toEqual(['lab.log']);
    expect(await labDown(dir)).toEqual({ prefix: undefined, graceful: false, left: [], stopped: [] });
  }, 120000);
});
