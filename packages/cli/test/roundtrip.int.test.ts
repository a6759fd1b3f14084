/**
 * Every kind through the real terracectl against a real etcd: apply, get in
 * every format, YAML/JSON output applied back unchanged, replace, patch,
 * label, delete. Also calicoctl manifests and a stale update.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { sharedEtcdEndpoint, uniqueCluster } from '@terrace/testkit';
import { parse } from 'yaml';
import { bound, tempDir } from './harness.js';

const endpoint = sharedEtcdEndpoint();
const cluster = uniqueCluster('cli-rt');
const ctl = bound(endpoint, cluster);
const dir = tempDir();
afterAll(() => dir.remove());

interface KindCase {
  kind: string;
  alias: string;
  name: string;
  manifest: string;
  /** A replacement manifest, and what the table shows afterwards. */
  replaced: string;
  replacedShows: string;
  /** A merge patch, and a path/value it must produce. */
  patch: object;
  patchedPath: string[];
  patchedValue: unknown;
  tableHeader: string;
  tableShows: string;
}

const cases: KindCase[] = [
  {
    kind: 'IPPool',
    alias: 'ippools',
    name: 'rt-pool',
    manifest: 'apiVersion: terrace.dev/v1\nkind: IPPool\nmetadata: {name: rt-pool}\nspec: {cidr: 198.19.0.0/16, blockSize: 26}\n',
    replaced: 'apiVersion: terrace.dev/v1\nkind: IPPool\nmetadata: {name: rt-pool}\nspec: {cidr: 198.19.0.0/16, blockSize: 26, nodeSelector: "rack == \'a\'"}\n',
    replacedShows: "rack == 'a'",
    patch: { spec: { disabled: true } },
    patchedPath: ['spec', 'disabled'],
    patchedValue: true,
    tableHeader: 'NAME      CIDR            BLOCKSIZE   SELECTOR',
    tableShows: '198.19.0.0/16',
  },
  {
    kind: 'IPPool',
    alias: 'pool',
    name: 'rt-pool-v6',
    manifest: '{"apiVersion":"terrace.dev/v1","kind":"IPPool","metadata":{"name":"rt-pool-v6"},"spec":{"cidr":"fd00:198:19::/48","blockSize":122}}',
    replaced: '{"apiVersion":"terrace.dev/v1","kind":"IPPool","metadata":{"name":"rt-pool-v6"},"spec":{"cidr":"fd00:198:19::/48","blockSize":122,"natOutgoing":true}}',
    replacedShows: 'fd00:198:19::/48',
    patch: { spec: { allowedUses: ['Workload'] } },
    patchedPath: ['spec', 'allowedUses'],
    patchedValue: ['Workload'],
    tableHeader: 'NAME',
    tableShows: 'fd00:198:19::/48',
  },
  {
    kind: 'BGPPeer',
    alias: 'bgppeer',
    name: 'rt-tor',
    manifest: 'apiVersion: terrace.dev/v1\nkind: BGPPeer\nmetadata: {name: rt-tor}\nspec: {peerIP: 198.18.0.1, asNumber: 65000}\n',
    replaced: 'apiVersion: terrace.dev/v1\nkind: BGPPeer\nmetadata: {name: rt-tor}\nspec: {peerIP: 198.18.0.1, asNumber: 65001, node: node-1}\n',
    replacedShows: '65001',
    patch: { spec: { keepaliveTime: '20s' } },
    patchedPath: ['spec', 'keepaliveTime'],
    patchedValue: '20s',
    tableHeader: 'NAME     PEERIP       NODE       ASN',
    tableShows: '(global)',
  },
  {
    kind: 'BGPConfiguration',
    alias: 'bgpconfig',
    name: 'default',
    manifest: 'apiVersion: terrace.dev/v1\nkind: BGPConfiguration\nmetadata: {name: default}\nspec: {asNumber: 64512, nodeToNodeMeshEnabled: true}\n',
    replaced: 'apiVersion: terrace.dev/v1\nkind: BGPConfiguration\nmetadata: {name: default}\nspec: {asNumber: 64513, nodeToNodeMeshEnabled: false}\n',
    replacedShows: '64513',
    patch: { spec: { listenPort: 1179 } },
    patchedPath: ['spec', 'listenPort'],
    patchedValue: 1179,
    tableHeader: 'NAME      ASN     MESH   LISTENPORT',
    tableShows: '64512',
  },
  {
    kind: 'Node',
    alias: 'nodes',
    name: 'node-1',
    manifest: 'apiVersion: terrace.dev/v1\nkind: Node\nmetadata: {name: node-1}\nspec: {bgp: {ipv4Address: 198.18.0.11/24}}\n',
    replaced: 'apiVersion: terrace.dev/v1\nkind: Node\nmetadata: {name: node-1}\nspec: {bgp: {ipv4Address: 198.18.0.12/24}}\n',
    replacedShows: '198.18.0.12/24',
    patch: { spec: { bgp: { asNumber: 65010 } } },
    patchedPath: ['spec', 'bgp', 'asNumber'],
    patchedValue: 65010,
    tableHeader: 'NAME     IPV4             IPV6   ASN',
    tableShows: '198.18.0.11/24',
  },
  {
    kind: 'IPAMConfig',
    alias: 'ipamconfig',
    name: 'default',
    manifest: 'apiVersion: terrace.dev/v1\nkind: IPAMConfig\nmetadata: {name: default}\nspec: {strictAffinity: false, maxBlocksPerHost: 0}\n',
    replaced: 'apiVersion: terrace.dev/v1\nkind: IPAMConfig\nmetadata: {name: default}\nspec: {strictAffinity: true, maxBlocksPerHost: 0}\n',
    replacedShows: 'true',
    patch: { spec: { maxBlocksPerHost: 4 } },
    patchedPath: ['spec', 'maxBlocksPerHost'],
    patchedValue: 4,
    tableHeader: 'NAME      STRICTAFFINITY   MAXBLOCKSPERHOST',
    tableShows: 'false',
  },
];

function at(doc: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>((v, k) => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined), doc);
}

function ok(r: { code: number; stderr: string }): void {
  if (r.code !== 0) throw new Error(`terracectl failed (${r.code}): ${r.stderr}`);
}

describe.each(cases)('$kind $name round trip', (c) => {
  const ref = `${c.kind.toLowerCase()}/${c.name}`;

  test('apply creates, a second apply is unchanged', async () => {
    const r = await ctl(['apply', '-f', '-'], { stdin: c.manifest });
    ok(r);
    expect(r.stdout).toBe(`${ref} created\n`);
    expect(r.stderr).toBe('');
    const again = await ctl(['apply', '-f', dir.write(`${c.name}-${c.kind}.yaml`, c.manifest)]);
    ok(again);
    expect(again.stdout).toBe(`${ref} unchanged\n`);
  });

  test('get as a table', async () => {
    const r = await ctl(['get', c.alias]);
    ok(r);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]?.startsWith(c.tableHeader)).toBe(true);
    const row = lines.find((l) => l.startsWith(`${c.name} `));
    expect(row).toContain(c.tableShows);
    const one = await ctl(['get', c.alias, c.name, '-o', 'wide']);
    ok(one);
    expect(one.stdout.split('\n')[0]).toContain('AGE');
    expect(one.stdout.trimEnd().split('\n')).toHaveLength(2);
  });

  test('get -o yaml and -o json apply back unchanged', async () => {
    const y = await ctl(['get', c.alias, c.name, '-o', 'yaml']);
    ok(y);
    const doc = parse(y.stdout);
    expect(doc.apiVersion).toBe('terrace.dev/v1');
    expect(doc.kind).toBe(c.kind);
    expect(doc.metadata.name).toBe(c.name);
    expect(doc.metadata.resourceVersion).toMatch(/^\d+$/);
    const back = await ctl(['apply', '-f', '-'], { stdin: y.stdout });
    ok(back);
    expect(back.stdout).toBe(`${ref} unchanged\n`);

    const j = await ctl(['get', c.alias, '-o', 'json']);
    ok(j);
    const list = JSON.parse(j.stdout);
    expect(list.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toContain(c.name);
    const backJ = await ctl(['apply', '-f', '-'], { stdin: j.stdout });
    ok(backJ);
    expect(backJ.stdout).toContain(`${ref} unchanged\n`);
    expect(backJ.stdout).not.toMatch(/created|configured/);
  });

  test('replace', async () => {
    const r = await ctl(['replace', '-f', '-'], { stdin: c.replaced });
    ok(r);
    expect(r.stdout).toBe(`${ref} replaced\n`);
    const t = await ctl(['get', c.alias, c.name, '-o', 'wide']);
    expect(t.stdout).toContain(c.replacedShows);
  });

  test('patch', async () => {
    const r = await ctl(['patch', c.alias, c.name, '-p', JSON.stringify(c.patch)]);
    ok(r);
    expect(r.stdout).toBe(`${ref} patched\n`);
    const doc = JSON.parse((await ctl(['get', c.alias, c.name, '-o', 'json'])).stdout);
    expect(at(doc, c.patchedPath)).toEqual(c.patchedValue);
  });

  test('label set, overwrite, remove', async () => {
    ok(await ctl(['label', c.alias, c.name, 'rack=a', 'terrace.dev/zone=east']));
    const refused = await ctl(['label', c.alias, c.name, 'rack=b']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--overwrite');
    const over = await ctl(['label', c.alias, c.name, 'rack=b', '--overwrite']);
    ok(over);
    expect(over.stdout).toBe(`${ref} labeled\n`);
    let doc = parse((await ctl(['get', c.alias, c.name, '-o', 'yaml'])).stdout);
    expect(doc.metadata.labels).toEqual({ rack: 'b', 'terrace.dev/zone': 'east' });
    ok(await ctl(['label', c.alias, c.name, 'rack-', 'terrace.dev/zone-']));
    doc = parse((await ctl(['get', c.alias, c.name, '-o', 'yaml'])).stdout);
    expect(doc.metadata.labels).toBeUndefined();
  });

  test('delete', async () => {
    const r = await ctl(['delete', c.alias, c.name]);
    ok(r);
    expect(r.stdout).toBe(`${ref} deleted\n`);
    const gone = await ctl(['get', c.alias, c.name]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe(`error: ${ref} not found\n`);
  });
});

describe('manifests and lists', () => {
  test('empty kinds say so', async () => {
    const r = await ctl(['get', 'bgppeers']);
    ok(r);
    expect(r.stdout).toBe('No resources found.\n');
  });

  test('multi-document apply and delete -f, with dry runs that write nothing', async () => {
    const text = [
      'apiVersion: terrace.dev/v1\nkind: IPPool\nmetadata: {name: multi-a}\nspec: {cidr: 198.19.0.0/24}',
      'apiVersion: terrace.dev/v1\nkind: IPPool\nmetadata: {name: multi-b}\nspec: {cidr: 198.19.1.0/24}',
      'apiVersion: terrace.dev/v1\nkind: BGPPeer\nmetadata: {name: multi-p}\nspec: {peerIP: "198.18.0.9:1179", asNumber: "1.10"}',
    ].join('\n---\n');
    const file = dir.write('multi.yaml', text);
    const dry = await ctl(['apply', '-f', file, '--dry-run']);
    ok(dry);
    expect(dry.stdout).toBe('ippool/multi-a created (dry run)\nippool/multi-b created (dry run)\nbgppeer/multi-p created (dry run)\n');
    expect((await ctl(['get', 'pools'])).stdout).toBe('No resources found.\n');
    const r = await ctl(['create', '-f', file]);
    ok(r);
    expect(r.stdout).toBe('ippool/multi-a created\nippool/multi-b created\nbgppeer/multi-p created\n');
    const peer = JSON.parse((await ctl(['get', 'peer', 'multi-p', '-o', 'json'])).stdout);
    expect(peer.spec.asNumber).toBe(65546); // asdot 1.10
    const del = await ctl(['delete', '-f', file]);
    ok(del);
    expect(del.stdout).toBe('ippool/multi-a deleted\nippool/multi-b deleted\nbgppeer/multi-p deleted\n');
  });

  test('calicoctl manifests (projectcalico.org/v3) are accepted and stored as terrace.dev/v1', async () => {
    const calico = `
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: calico-pool
spec:
  cidr: 198.19.64.0/18
  blockSize: 26
  ipipMode: Never
  vxlanMode: Never
  natOutgoing: true
  nodeSelector: all()
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: calico-tor
spec:
  peerIP: 198.18.0.1
  asNumber: 65000
  nodeSelector: "rack == 'a'"
---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata:
  name: default
spec:
  logSeverityScreen: Info
  nodeToNodeMeshEnabled: false
  asNumber: 63400
---
apiVersion: projectcalico.org/v3
kind: Node
metadata:
  name: calico-node
  labels:
    rack: a
spec:
  bgp:
    ipv4Address: 198.18.0.21/24
    asNumber: 64512
    routeReflectorClusterID: 224.0.0.1
`;
    const r = await ctl(['apply', '-f', '-'], { stdin: calico });
    ok(r);
    expect(r.stdout).toBe('ippool/calico-pool created\nbgppeer/calico-tor created\nbgpconfiguration/default created\nnode/calico-node created\n');
    for (const [alias, name] of [['pool', 'calico-pool'], ['peer', 'calico-tor'], ['bgpconfig', 'default'], ['node', 'calico-node']] as const) {
      const doc = parse((await ctl(['get', alias, name, '-o', 'yaml'])).stdout);
      expect(doc.apiVersion).toBe('terrace.dev/v1');
    }
    const again = await ctl(['apply', '-f', '-'], { stdin: calico });
    ok(again);
    expect(again.stdout).toBe('ippool/calico-pool unchanged\nbgppeer/calico-tor unchanged\nbgpconfiguration/default unchanged\nnode/calico-node unchanged\n');
  });

  test('a stale resourceVersion is refused as a conflict', async () => {
    ok(await ctl(['apply', '-f', '-'], { stdin: 'apiVersion: terrace.dev/v1\nkind: IPPool\nmetadata: {name: stale}\nspec: {cidr: 198.19.200.0/24}\n' }));
    const old = (await ctl(['get', 'pool', 'stale', '-o', 'yaml'])).stdout;
    ok(await ctl(['patch', 'pool', 'stale', '-p', '{"spec":{"disabled":true}}']));
    // The old YAML still carries the resourceVersion it was read at.
    const r = await ctl(['replace', '-f', '-'], { stdin: old });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: ippool\/stale: .*resourceVersion/);
    const now = JSON.parse((await ctl(['get', 'pool', 'stale', '-o', 'json'])).stdout);
    expect(now.spec.disabled).toBe(true);
  });
});

describe('version and validate', () => {
  test('version names the cluster when etcd is reachable', async () => {
    const r = await ctl(['version']);
    ok(r);
    expect(r.stdout).toMatch(/^Client Version: \d+\.\d+\.\d+\n/);
    expect(r.stdout).toContain(`Cluster:        ${cluster}\n`);
  });

  test('version --client and validate work with no datastore and never load the etcd client', async () => {
    const probe = dir.write(
      'loaded.cjs',
      "process.on('exit', () => { if (Object.keys(require.cache).some((k) => k.includes('/node_modules/etcd3/'))) process.stderr.write('etcd3 loaded\\n'); });\n",
    );
    const env = { NODE_OPTIONS: `--require ${probe}` };
    const offline = bound('http://127.0.0.1:1', cluster);
    const v = await offline(['version', '--client'], { env });
    expect(v).toMatchObject({ code: 0, stderr: '' });
    const file = dir.write('valid.yaml', 'apiVersion: terrace.dev/v1\nkind: IPPool\nmetadata: {name: ok}\nspec: {cidr: 198.19.0.0/16}\n');
    const val = await offline(['validate', '-f', file], { env });
    expect(val).toMatchObject({ code: 0, stdout: 'ippool/ok valid\n', stderr: '' });
  });
});
