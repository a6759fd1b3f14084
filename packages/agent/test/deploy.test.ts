/**
 * The files under deploy/ against the code they configure: every YAML parses,
 * every example manifest decodes (and every bad-*.yaml is refused), every
 * flag the systemd units and Kubernetes manifests pass to terrace-agent and
 * terrace-controller is accepted by their real parsers, config files are
 * accepted by the datastore's reader, and the CNI installer produces a
 * plugin that runs. So the deployment files cannot drift from the code.
 */
import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { parse as parseYaml, parseAllDocuments, stringify as stringifyYaml } from 'yaml';
import { type IPPool, decodeManifests, findOverlappingPool } from '@terrace/api';
import { DEFAULT_GOBGP_API_PORT } from '@terrace/bgp';
import { decodeConfig, parseConfig } from '@terrace/cni';
import { parseControllerArgs } from '@terrace/controller';
import { resolveConnectionConfig } from '@terrace/datastore';
import { type InterfaceAddress, parseAgentArgs } from '../src/config.js';
import { DEPLOY_DIR, type Invocation, containerInvocation, filesUnder, podContainers, systemdInvocations } from './deploy-files.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const rel = (p: string): string => relative(DEPLOY_DIR, p);

const K8S_DIR = join(DEPLOY_DIR, 'kubernetes');
const NAMESPACE = 'terrace-system';
const IMAGE = 'terrace:0.1.0';
const CONFLIST = join(DEPLOY_DIR, 'cni', '10-terrace.conflist');
/** The same network for runtimes that speak CNI 1.1 (and send GC and STATUS). */
const CONFLIST_1_1 = join(DEPLOY_DIR, 'cni', '10-terrace-1.1.conflist');

/** Every YAML document of a file, as plain data; a syntax error fails with the file name. */
function yamlDocs(path: string): unknown[] {
  return parseAllDocuments(readFileSync(path, 'utf8'), { uniqueKeys: true }).map((d) => {
    if (d.errors.length > 0) throw new Error(`${rel(path)}: ${d.errors[0]?.message ?? 'invalid YAML'}`);
    return d.toJS() as unknown;
  });
}

function k8sDocs(): Array<{ file: string; doc: Obj }> {
  const out: Array<{ file: string; doc: Obj }> = [];
  for (const file of filesUnder(K8S_DIR, (n) => n.endsWith('.yaml') && n !== 'kustomization.yaml')) {
    for (const doc of yamlDocs(file)) if (isObj(doc)) out.push({ file: rel(file), doc });
  }
  return out;
}

// A fixed interface list, so that --node-ip resolves the same on any machine.
const LOCAL: InterfaceAddress[] = [{ family: 4, address: '198.18.0.11', prefix: 24, iface: 'eth0' }];

/** Runs the program's real parser on the arguments; returns what it understood. */
function checkInvocation(inv: Invocation): void {
  const what = `${inv.where}: ${inv.program} ${inv.args.join(' ')}`;
  try {
    if (inv.program === 'terrace-agent') parseAgentArgs(inv.args, { local: () => LOCAL });
    else if (inv.program === 'terrace-controller') parseControllerArgs(inv.args, { host: 'host-1', pid: 1 });
  } catch (e) {
    throw new Error(`${what}\n  refused: ${(e as Error).message}`);
  }
}

const allInvocations = (): Invocation[] => [
  ...filesUnder(join(DEPLOY_DIR, 'systemd'), (n) => n.endsWith('.service')).flatMap(systemdInvocations),
  ...k8sDocs().flatMap(({ file, doc }) => podContainers(doc).map((c) => containerInvocation(c, `${file} ${String(doc['kind'])}`))),
];

describe('deploy/: every YAML file parses', () => {
  const files = filesUnder(DEPLOY_DIR, (n) => /\.ya?ml(\.example)?$/.test(n));

  it('finds the files it is meant to check', () => {
    const names = files.map(rel);
    expect(names).toEqual(expect.arrayContaining(['terrace.yaml.example', 'examples/pools.yaml', 'kubernetes/agent-daemonset.yaml', 'kubernetes/kustomization.yaml']));
  });

  it.each(files.map((f) => [rel(f), f]))('%s', (_name, file) => {
    expect(yamlDocs(file).length).toBeGreaterThan(0);
  });
});

describe('deploy/examples: Terrace manifests', () => {
  const dir = join(DEPLOY_DIR, 'examples');
  const good = readdirSync(dir).filter((n) => n.endsWith('.yaml') && !n.startsWith('bad-')).sort();
  const bad = readdirSync(dir).filter((n) => n.endsWith('.yaml') && n.startsWith('bad-')).sort();
  const decode = (n: string) => decodeManifests(readFileSync(join(dir, n), 'utf8'), n);
  const goodPools = (): IPPool[] => good.flatMap(decode).filter((r): r is IPPool => r.kind === 'IPPool');

  it.each(good)('%s decodes', (name) => {
    expect(decode(name).length).toBeGreaterThan(0);
  });

  it('the good examples can be applied together: no two pools overlap', () => {
    const pools = goodPools();
    for (const p of pools) expect(findOverlappingPool(p, pools)?.metadata.name).toBeUndefined();
  });

  // A bad example is refused either by decoding alone, or by the pool-overlap
  // rule `apply` enforces against a cluster that holds the good examples.
  it.each(bad)('%s is refused', (name) => {
    let refusal: string | undefined;
    try {
      const pools = goodPools();
      for (const r of decode(name)) {
        const other = r.kind === 'IPPool' ? findOverlappingPool(r as IPPool, pools) : undefined;
        if (other) refusal = `ippool/${r.metadata.name} overlaps ippool/${other.metadata.name}`;
      }
    } catch (e) {
      refusal = (e as Error).message;
    }
    expect(refusal).toBeDefined();
  });
});

describe('daemon flags in systemd units and Kubernetes manifests', () => {
  const invocations = allInvocations();

  it('finds the agent and the controller in both', () => {
    const seen = new Set(invocations.map((i) => `${i.where.startsWith('terrace-') ? 'systemd' : 'kubernetes'}:${i.program}`));
    for (const k of ['systemd:terrace-agent', 'systemd:terrace-controller', 'systemd:gobgpd', 'kubernetes:terrace-agent', 'kubernetes:terrace-controller', 'kubernetes:gobgpd']) {
      expect(seen).toContain(k);
    }
  });

  it.each(invocations.filter((i) => i.program.startsWith('terrace-')).map((i): [string, Invocation] => [`${i.where} (${i.program})`, i]))(
    '%s: the real parser accepts every flag',
    (_name, inv) => {
      expect(() => checkInvocation(inv)).not.toThrow();
    },
  );

  it('rejects a flag the agent does not have (the check can fail)', () => {
    // commander also prints the error; keep the test output clean.
    const quiet = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(() => checkInvocation({ where: 'self-test', program: 'terrace-agent', args: ['--node-ip=198.18.0.11', '--no-such-flag'] })).toThrow('refused');
    } finally {
      quiet.mockRestore();
    }
  });

  it('gobgpd listens on loopback only, without pprof, where the agent looks for it', () => {
    const gobgpd = invocations.filter((i) => i.program === 'gobgpd');
    const agents = invocations.filter((i) => i.program === 'terrace-agent');
    const api = `127.0.0.1:${DEFAULT_GOBGP_API_PORT}`;
    for (const g of gobgpd) expect(g.args).toEqual(expect.arrayContaining([`--api-hosts=${api}`, '--pprof-disable']));
    for (const a of agents) expect(a.args).toContain(`--gobgp-address=${api}`);
  });

  it('gobgpd knows every flag it is given (its own --help)', () => {
    const help = spawnSync('gobgpd', ['--help'], { encoding: 'utf8' });
    expect(help.error).toBeUndefined();
    const known = new Set([...`${help.stdout}${help.stderr}`.matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1]));
    for (const g of invocations.filter((i) => i.program === 'gobgpd')) {
      for (const a of g.args) expect([a, known.has(/^--([a-z-]+)/.exec(a)?.[1] ?? a)]).toEqual([a, true]);
    }
  });
});

describe('deploy/systemd/terrace-bird.service: the BIRD sidecar', () => {
  const unitPath = join(DEPLOY_DIR, 'systemd', 'terrace-bird.service');
  const unit = readFileSync(unitPath, 'utf8');
  const line = (key: string): string => {
    const l = unit.split('\n').find((x) => x.startsWith(`${key}=`));
    if (!l) throw new Error(`terrace-bird.service has no ${key}=`);
    return l.slice(key.length + 1);
  };
  const dir = `/run/${line('RuntimeDirectory')}`;
  /** The agent flags a BIRD node adds, as terrace-agent.default shows them. */
  const agentBirdArgs = (): string[] => {
    const m = /^#\s+(--bgp-backend=bird .*)$/m.exec(readFileSync(join(DEPLOY_DIR, 'systemd', 'terrace-agent.default'), 'utf8'));
    if (!m?.[1]) throw new Error('terrace-agent.default shows no BIRD flags');
    return m[1].trim().split(/\s+/);
  };

  it('runs bird on the directory a BIRD node\'s agent is told, and the agent accepts those flags', () => {
    const args = agentBirdArgs();
    expect(args).toContain(`--bird-dir=${dir}`);
    expect(() => checkInvocation({ where: 'terrace-agent.default', program: 'terrace-agent', args: ['--node-ip=198.18.0.11', ...args] })).not.toThrow();
    const bird = systemdInvocations(unitPath).find((i) => i.program === 'bird');
    expect(bird?.args).toEqual(['-f', '-R', '-c', `${dir}/bird.conf`, '-s', `${dir}/bird.ctl`]);
    // Not the agent's own runtime directory, which systemd removes when the agent stops.
    expect(readFileSync(join(DEPLOY_DIR, 'systemd', 'terrace-agent.service'), 'utf8')).not.toMatch(new RegExp(`RuntimeDirectory=${line('RuntimeDirectory')}\\b`));
  });

  it('writes, on a first start, a bird.conf that bird accepts (bird -p), and keeps one already there', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'terrace-bird-unit-'));
    try {
      // systemd turns %% into %; the command then runs with the example's environment.
      const pre = line('ExecStartPre').replace(/%%/g, '%').split(dir).join(tmp);
      const shell = /^\/bin\/sh -c '(.*)'$/.exec(pre)?.[1];
      expect(shell).toBeDefined();
      const env = { ...process.env, TERRACE_BIRD_ROUTER_ID: '198.18.0.13' };
      execFileSync('/bin/sh', ['-c', shell as string], { env });
      const conf = join(tmp, 'bird.conf');
      expect(readFileSync(conf, 'utf8')).toBe('router id 198.18.0.13;\nprotocol device terrace_device { }\n');
      const check = spawnSync('bird', ['-p', '-c', conf], { encoding: 'utf8' });
      expect([check.status, check.stderr]).toEqual([0, '']);
      writeFileSync(conf, '# rendered by the agent\n');
      execFileSync('/bin/sh', ['-c', shell as string], { env });
      expect(readFileSync(conf, 'utf8')).toBe('# rendered by the agent\n');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('deploy/kubernetes: manifests', () => {
  const docs = k8sDocs();
  const workloads = docs.filter(({ doc }) => doc['kind'] === 'DaemonSet' || doc['kind'] === 'Deployment');

  it('has the namespace, config, agent DaemonSet and controller Deployment', () => {
    const kinds = docs.map(({ doc }) => `${String(doc['kind'])}/${String((doc['metadata'] as Obj)['name'])}`);
    expect(kinds.sort()).toEqual(
      ['ConfigMap/terrace-config', 'DaemonSet/terrace-agent', 'Deployment/terrace-controller', `Namespace/${NAMESPACE}`, 'Secret/terrace-etcd-tls'].sort(),
    );
  });

  it('kustomization.yaml lists every manifest of the directory', () => {
    const k = parseYaml(readFileSync(join(K8S_DIR, 'kustomization.yaml'), 'utf8')) as Obj;
    const manifests = readdirSync(K8S_DIR).filter((n) => n.endsWith('.yaml') && n !== 'kustomization.yaml');
    expect([...(k['resources'] as string[])].sort()).toEqual(manifests.sort());
    expect(k['namespace']).toBe(NAMESPACE);
  });

  it.each(docs.filter(({ doc }) => doc['kind'] !== 'Namespace').map((d): [string, Obj] => [`${d.file} ${String(d.doc['kind'])}`, d.doc]))('%s is in the namespace', (_n, doc) => {
    expect((doc['metadata'] as Obj)['namespace']).toBe(NAMESPACE);
  });

  it.each(workloads.map((w): [string, Obj] => [`${w.file} ${String(w.doc['kind'])}`, w.doc]))('%s: selector, images, volumes and no API access', (_n, doc) => {
    const spec = doc['spec'] as Obj;
    const template = spec['template'] as Obj;
    const labels = (template['metadata'] as Obj)['labels'] as Obj;
    expect(labels).toMatchObject((spec['selector'] as Obj)['matchLabels'] as Obj);
    const pod = template['spec'] as Obj;
    expect(pod['hostNetwork']).toBe(true);
    expect(pod['automountServiceAccountToken']).toBe(false);
    const volumes = new Set((pod['volumes'] as Obj[]).map((v) => v['name']));
    for (const c of podContainers(doc)) {
      expect(c['image']).toBe(IMAGE);
      for (const m of (c['volumeMounts'] as Obj[] | undefined) ?? []) expect([c['name'], m['name'], volumes.has(m['name'])]).toEqual([c['name'], m['name'], true]);
    }
  });

  it('the agent pod mounts the host paths the plugin and runtime use, and runs everywhere', () => {
    const ds = workloads.find(({ doc }) => doc['kind'] === 'DaemonSet')?.doc as Obj;
    const pod = ((ds['spec'] as Obj)['template'] as Obj)['spec'] as Obj;
    const hostPaths = (pod['volumes'] as Obj[]).flatMap((v) => (isObj(v['hostPath']) ? [v['hostPath']['path']] : []));
    expect(hostPaths.sort()).toEqual(['/etc/cni/net.d', '/opt/cni/bin', '/run/terrace', '/var/lib/terrace/cni', '/var/run/netns']);
    expect(pod['tolerations']).toEqual([{ operator: 'Exists' }]);
    const names = podContainers(ds).map((c) => c['name']);
    expect(names).toEqual(['install-cni', 'terrace-agent', 'gobgpd']);
  });

  it('the controller runs two replicas that prefer different nodes', () => {
    const dep = workloads.find(({ doc }) => doc['kind'] === 'Deployment')?.doc as Obj;
    const spec = dep['spec'] as Obj;
    expect(spec['replicas']).toBe(2);
    const anti = (((spec['template'] as Obj)['spec'] as Obj)['affinity'] as Obj)['podAntiAffinity'] as Obj;
    expect(JSON.stringify(anti)).toContain('kubernetes.io/hostname');
    // Two replicas on a host port cannot share a node: a rollout that surges would hang on two nodes.
    expect(spec['strategy']).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } });
  });

  it("the ConfigMap's conflist is deploy/cni/10-terrace.conflist", () => {
    const cm = docs.find(({ doc }) => doc['kind'] === 'ConfigMap')?.doc as Obj;
    const data = cm['data'] as Record<string, string>;
    expect(JSON.parse(data['10-terrace.conflist'] ?? 'null')).toEqual(JSON.parse(readFileSync(CONFLIST, 'utf8')));
  });
});

describe('config files are accepted by the code that reads them', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'terrace-deploy-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  // The TLS paths name files on a real host; point them at files that exist
  // here, so that what is checked is the file's structure and endpoints.
  const resolveFrom = (name: string, text: string) => {
    const doc = parseYaml(text) as { etcd?: Record<string, unknown> };
    for (const k of ['ca', 'cert', 'key'] as const) {
      if (doc.etcd?.[k] !== undefined) {
        writeFileSync(join(tmp, `${name}.${k}`), 'pem');
        doc.etcd[k] = join(tmp, `${name}.${k}`);
      }
    }
    const path = join(tmp, `${name}.yaml`);
    writeFileSync(path, stringifyYaml(doc));
    return resolveConnectionConfig({ config: path }, {}, '/nonexistent');
  };

  it('deploy/terrace.yaml.example', () => {
    const cfg = resolveFrom('example', readFileSync(join(DEPLOY_DIR, 'terrace.yaml.example'), 'utf8'));
    expect(cfg.endpoints.every((e) => e.startsWith('https://'))).toBe(true);
    expect(cfg.cert).toBeDefined();
  });

  it("the ConfigMap's terrace.yaml", () => {
    const cm = k8sDocs().find(({ doc }) => doc['kind'] === 'ConfigMap')?.doc as Obj;
    const cfg = resolveFrom('configmap', (cm['data'] as Record<string, string>)['terrace.yaml'] ?? '');
    expect(cfg.endpoints.length).toBeGreaterThan(0);
    // The paths the pods mount the Secret at.
    const raw = parseYaml((cm['data'] as Record<string, string>)['terrace.yaml'] ?? '') as { etcd: Record<string, string> };
    const secret = k8sDocs().find(({ doc }) => doc['kind'] === 'Secret')?.doc as Obj;
    expect(secret['metadata']).toMatchObject({ name: 'terrace-etcd-tls' });
    for (const k of ['ca', 'cert', 'key']) expect(raw.etcd[k]).toMatch(/^\/etc\/terrace\/pki\//);
  });

  type Conflist = { cniVersion: string; name: string; plugins: Obj[] };
  const readList = (path: string): Conflist => JSON.parse(readFileSync(path, 'utf8')) as Conflist;
  // What a runtime passes the plugin: the entry with the list's version and name.
  const entries = (list: Conflist): Buffer[] => list.plugins.map((p) => Buffer.from(JSON.stringify({ cniVersion: list.cniVersion, name: list.name, ...p })));

  it('every plugin of both conflists is a valid terrace network config', () => {
    for (const path of [CONFLIST, CONFLIST_1_1]) {
      const list = readList(path);
      expect(list.plugins.length).toBeGreaterThan(0);
      for (const stdin of entries(list)) {
        for (const cmd of ['ADD', 'DEL', 'CHECK'] as const) {
          expect(parseConfig(decodeConfig(stdin), cmd)).toMatchObject({ name: list.name, agentSocket: '/run/terrace/cni.sock' });
        }
      }
    }
  });

  it('the shipped conflist says 1.0.0 (podman 4, containerd 1); the 1.1 one differs only there and allows GC and STATUS', () => {
    // Podman 4.3's libcni reads results only up to 1.0.0: with 1.1.0 it fails
    // the container after the pod was wired ("unsupported CNI result version").
    const shipped = readList(CONFLIST);
    const newer = readList(CONFLIST_1_1);
    expect(shipped.cniVersion).toBe('1.0.0');
    expect(newer.cniVersion).toBe('1.1.0');
    expect({ ...newer, cniVersion: shipped.cniVersion }).toEqual(shipped);
    for (const stdin of entries(newer)) {
      for (const cmd of ['GC', 'STATUS'] as const) expect(parseConfig(decodeConfig(stdin), cmd)).toMatchObject({ cniVersion: '1.1.0' });
    }
    // A 1.0.0 list must not be sent GC or STATUS; the plugin says so (code 1) if it is.
    for (const stdin of entries(shipped)) expect(() => parseConfig(decodeConfig(stdin), 'GC')).toThrow(/GC needs cniVersion 1.1.0/);
  });
});

describe('deploy/image/install-cni.sh', () => {
  it('installs a plugin that runs, and a conflist, replacing an earlier install', () => {
    const root = join(DEPLOY_DIR, '..');
    const tmp = mkdtempSync(join(tmpdir(), 'terrace-install-cni-'));
    try {
      const env = { ...process.env, TERRACE_ROOT: root, CNI_BIN_DIR: join(tmp, 'bin'), CNI_NET_DIR: join(tmp, 'net') };
      // A payload directory of the earlier Node-based plugin goes.
      mkdirSync(join(tmp, 'bin', 'terrace-cni.20260101000000.1'), { recursive: true });
      for (let i = 0; i < 3; i++) execFileSync(join(DEPLOY_DIR, 'image', 'install-cni.sh'), { env, stdio: 'pipe' });
      expect(readdirSync(join(tmp, 'bin'))).toEqual(['terrace']);
      expect(readFileSync(join(tmp, 'net', '10-terrace.conflist'), 'utf8')).toBe(readFileSync(CONFLIST, 'utf8'));

      const plugin = join(tmp, 'bin', 'terrace');
      const version = JSON.parse(execFileSync(plugin, { env: { CNI_COMMAND: 'VERSION' }, input: '', encoding: 'utf8' })) as { supportedVersions: string[] };
      expect(version.supportedVersions).toContain('1.1.0');
      // STATUS without an agent: the spec's "not available" from the installed copy.
      const conf = JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'terrace', agentSocket: join(tmp, 'none.sock') });
      const status = spawnSync(plugin, { env: { CNI_COMMAND: 'STATUS' }, input: conf, encoding: 'utf8' });
      expect(status.status).toBe(1);
      expect(JSON.parse(status.stdout)).toMatchObject({ code: 50 });
      expect(basename(plugin)).toBe('terrace');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
