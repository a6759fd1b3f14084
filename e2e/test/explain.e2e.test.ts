/**
 * `terracectl explain ip` and `terracectl diags` against a live mixed
 * cluster: node-1 and node-2 drive gobgpd, node-3's agent runs BIRD; the
 * ToR is FRR. Explain gets its per-node routes from the agents' answers to a
 * route query, so every fault here is real: a node whose BGP sessions are cut
 * (nftables in its namespace drops BGP's port), and a pod whose namespace
 * went without a CNI DEL (its interface and host route are gone, the address
 * is still allocated).
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { destroyLab, mustRunIn, TerraceLab, waitUntil, type RunResult } from '../src/index.js';

let lab: TerraceLab;

beforeAll(async () => {
  lab = await TerraceLab.start({ nodes: 3, birdNodes: [3] });
}, 120000);

afterAll(async () => {
  expect(await destroyLab(lab)).toEqual([]);
}, 60000);

const verdict = (r: RunResult): string => /^Verdict: +(.*)$/m.exec(r.stdout)?.[1] ?? `(no verdict; exit ${r.code}: ${r.stderr.trim()})`;

/** Runs explain until `ok` accepts its result (routes and status records take a moment to settle). */
async function explainUntil(ip: string, what: string, ok: (r: RunResult) => boolean, timeoutMs = 30000): Promise<RunResult> {
  let last: RunResult | undefined;
  try {
    await waitUntil(what, async () => {
      last = await lab.ctl(['explain', 'ip', ip]);
      return ok(last);
    }, timeoutMs, 500);
  } catch (e) {
    throw new Error(`${(e as Error).message}; last explain (exit ${last?.code}):\n${last?.stdout}${last?.stderr}`);
  }
  return last as RunResult;
}

describe('terracectl explain ip', () => {
  test('a healthy address: its holder, a route on every node, exit 0', async () => {
    const a = await lab.addPod('node-1', 'a');
    const c = await lab.addPod('node-3', 'c');
    await lab.waitPing(c.ns, a.ip, 20000);
    // Its status record (published every 2 s) lists a new block a little after its agent announces it.
    const r = await explainUntil(a.ip, 'explain calls the pod healthy and its block advertised', (x) => x.code === 0 && /^Origin: .*: advertised$/m.test(x.stdout));
    expect(r.stdout).toContain(`Holder:    handle `);
    expect(r.stdout).toContain(`pod default/a, container ${a.containerId.slice(0, 12)}`);
    expect(r.stdout).toMatch(/Origin: +node-1 should announce 198\.19\.\d+\.\d+\/26: advertised/);
    // Both backends answered: node-2 (gobgpd) and node-3 (BIRD) route the block via node-1.
    for (const n of ['node-2', 'node-3']) expect(r.stdout).toMatch(new RegExp(`^${n} +alive +198\\.19\\.\\S+/26 via 198\\.18\\.0\\.11 \\(node-1\\)`, 'm'));
    expect(verdict(r)).toBe('healthy');
    console.log(`explain, healthy:\n${r.stdout}`);
    const json = JSON.parse((await lab.ctl(['explain', 'ip', a.ip, '-o', 'json'])).stdout) as { healthy: boolean; holder: { node: string } };
    expect(json).toMatchObject({ healthy: true, holder: { node: 'node-1' } });
  }, 90000);

  test('bad input and an unreachable etcd: one line, exit 1 and 2', async () => {
    const bad = await lab.ctl(['explain', 'ip', '198.19.0']);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe('error: explain ip: "198.19.0" is not an IPv4 or IPv6 address');
    const r = await lab.ctl(['--etcd-endpoints', 'http://198.18.0.250:2379', 'explain', 'ip', '198.19.0.1']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  }, 30000);

  test('a node whose BGP sessions are cut: exit 4, names the node and the session that is down', async () => {
    const a = lab.pod('a');
    const ns = lab.node('node-2').ns;
    const table = `explain-${process.pid}`;
    await mustRunIn(ns, 'nft', ['-f', '-'], {
      input: `table inet ${table} {\n chain in { type filter hook input priority 0; tcp dport 179 drop; tcp sport 179 drop; }\n chain out { type filter hook output priority 0; tcp dport 179 drop; tcp sport 179 drop; }\n}\n`,
    });
    try {
      const r = await explainUntil(a.ip, 'explain names node-2\'s missing route', (x) => x.code === 4 && /session to node-1 (?!Established)/.test(verdict(x)), 45000);
      expect(verdict(r)).toMatch(/^node-2 has no route to 198\.19\.\d+\.\d+\/26: session to node-1 \w+ since \d\d:\d\d:\d\d$/);
      expect(r.stdout).toMatch(/^node-2 +alive +none /m);
      console.log(`explain, node-2 cut off:\n${r.stdout}`);
    } finally {
      await mustRunIn(ns, 'nft', ['delete', 'table', 'inet', table]);
    }
    await explainUntil(a.ip, 'explain calls the pod healthy again', (x) => x.code === 0, 60000);
  }, 150000);

  test('an address whose pod went without a CNI DEL: exit 4, names the leak and the node', async () => {
    const b = await lab.addPod('node-3', 'b');
    await lab.waitPing(lab.pod('a').ns, b.ip, 20000);
    await explainUntil(b.ip, 'explain calls b healthy', (x) => x.code === 0);
    // The runtime lost the pod: its namespace (and so its veth and host route) goes, IPAM still holds the address.
    await lab.kit.removeNamespace(b.ns);
    lab.pods.delete('b');
    const r = await explainUntil(b.ip, 'explain names the leak', (x) => x.code === 4);
    expect(verdict(r)).toMatch(new RegExp(`^${b.ip.replace(/\./g, '\\.')} is allocated to handle \\S+ but no such container ${b.containerId.slice(0, 12)} on node-3: leaked`));
    console.log(`explain, leaked:\n${r.stdout}`);
  }, 90000);
});

/** Every file under `dir`, recursively, with its content. */
function filesUnder(dir: string, root = dir): { name: string; text: string }[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? filesUnder(p, root) : [{ name: p.slice(root.length + 1), text: readFileSync(p, 'utf8') }];
  });
}

describe('terracectl diags', () => {
  test('a tarball of the cluster\'s state and agent logs, with no secret in any member', async () => {
    // A BGP password the agents read from their secrets directory, for a peer that never answers.
    const secret = `md5-${process.pid}-${Date.now()}`;
    lab.writeSecret('bgp-secrets', 'extra', secret);
    await lab.apply(['apiVersion: terrace.dev/v1', 'kind: BGPPeer', 'metadata:', '  name: extra', 'spec:', '  peerIP: 198.18.0.250', '  asNumber: 65001', '  node: node-1',
      '  password:', '    secretKeyRef:', '      name: bgp-secrets', '      key: extra', ''].join('\n'));
    // The agents' own output as log files, one carrying the secret as a careless log line would.
    const logs = join(lab.tmp, 'diags-logs');
    mkdirSync(logs, { recursive: true });
    const args: string[] = [];
    for (const n of lab.nodes.values()) {
      const file = join(logs, `${n.name}.log`);
      writeFileSync(file, n.agent?.output() ?? '');
      args.push('--log', `${n.name}=${file}`);
    }
    appendFileSync(join(logs, 'node-1.log'), `{"level":"debug","msg":"peer 198.18.0.250 configured","md5":"${secret}"}\n`);
    // A password diags was never told about, with a comma and a space in it: only its field name gives it away.
    const unknown = `un,known zq${process.pid}x`;
    appendFileSync(join(logs, 'node-3.log'), `{"level":"debug","msg":"etcd login","password":"${unknown}"}\n`);
    const out = join(lab.tmp, 'diags.tar.gz');
    const r = await lab.ctl(['diags', '-f', out, ...args, '--secrets-dir', lab.secretsDir('node-1')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*diags\.tar\.gz: \d+ files\n$/);
    expect(r.stderr).toBe(''); // no progress in a pipe

    const dir = join(lab.tmp, 'diags-x');
    mkdirSync(dir);
    execFileSync('tar', ['-xzf', out, '-C', dir]);
    const files = filesUnder(dir);
    const names = files.map((f) => f.name);
    for (const want of ['index.json', 'resources/BGPPeer.json', 'resources/IPPool.json', 'ipam/pools.json', 'ipam/blocks.json', 'ipam/check.json',
      'nodes/node-1.status.json', 'nodes/node-3.status.json', 'nodes/alive.json', 'controller/status.json', 'versions.json', 'logs/node-1.log', 'logs/node-3.log']) {
      expect(names).toContain(want);
    }
    expect(names).not.toContain('errors.txt');
    // The reference stays: it says where the password comes from.
    expect(JSON.parse(files.find((f) => f.name === 'resources/BGPPeer.json')?.text ?? '[]')).toContainEqual(
      expect.objectContaining({ spec: expect.objectContaining({ password: { secretKeyRef: { name: 'bgp-secrets', key: 'extra' } } }) }));
    expect(JSON.parse(files.find((f) => f.name === 'versions.json')?.text ?? '{}')).toMatchObject({ etcd: expect.stringMatching(/^3\./) });
    // No member holds the secret, and neither does the raw archive.
    for (const f of files) expect({ member: f.name, leaks: f.text.includes(secret) }).toEqual({ member: f.name, leaks: false });
    expect(gunzipSync(readFileSync(out)).includes(Buffer.from(secret))).toBe(false);
    expect(gunzipSync(readFileSync(out)).includes(Buffer.from(`zq${process.pid}x`))).toBe(false);
    expect(files.find((f) => f.name === 'logs/node-3.log')?.text).toContain('"password":"<redacted>"');
    expect(files.find((f) => f.name === 'logs/node-1.log')?.text).toContain('"md5":"<redacted>"');
  }, 60000);
});
