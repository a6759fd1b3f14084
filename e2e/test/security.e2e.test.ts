/**
 * The security model end to end, in the lab: an etcd that demands client
 * certificates (a CA made for this run) and has auth on, with the users and
 * roles of deploy/etcd/roles.sh. The controller, a GoBGP agent, a BIRD agent
 * and terracectl each connect with their own certificate and user, and do
 * their work; the agent's user cannot write what is not the agent's; clients
 * without a trusted certificate are refused with one clear line; an agent
 * whose CNI socket directory others can write refuses to start. Then every
 * output of the run (daemon logs at debug level, every CLI output, the whole
 * cluster prefix in etcd) is searched for the run's secrets: the BGP MD5
 * password and every etcd password. None may appear.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CertFiles, type Daemon, type Lab, type Pki, createLab, listNamespaces, makePki } from '@terrace/testkit';
import { addPodThroughCni, callCni } from '../src/cni.js';
import { BIN, REPO_ROOT, type RunResult, cleanEnv, runIn, waitUntil } from '../src/proc.js';

const execPids = (ns: string): Promise<{ stdout: string }> => promisify(execFile)('ip', ['netns', 'pids', ns]).catch(() => ({ stdout: '' }));
const ETCD_IP = '198.18.0.2';
const ETCD_URL = `https://${ETCD_IP}:2379`;
const CTL_IP = '198.18.0.3';
const NODES = [
  { name: 'sec-n1', ip: '198.18.0.11', backend: 'gobgp' },
  { name: 'sec-n2', ip: '198.18.0.12', backend: 'bird' },
] as const;
const ROLES = join(REPO_ROOT, 'deploy', 'etcd', 'roles.sh');
const REMOTE_READER = join(REPO_ROOT, 'deploy', 'etcd', 'remote-reader.sh');
const secret = (what: string): string => `${what}-${randomBytes(9).toString('hex')}`;
const CLUSTER = `sec${randomBytes(3).toString('hex')}`;
/** A second cluster prefix in the same etcd, read as a remote cluster through a read-only user. */
const REMOTE = `${CLUSTER}-remote`;

/** Every secret of the run; the last test greps every output for each of them. */
const SECRETS = {
  md5: secret('md5pw'),
  root: secret('rootpw'),
  agent: secret('agentpw'),
  controller: secret('ctlpw'),
  admin: secret('adminpw'),
  wrong: secret('wrongpw'),
  remote: secret('remotepw'),
  remoteWrong: secret('remotewrongpw'),
};

let kit: Lab;
let tmp: string;
let pki: Pki;
let certs: Record<'server' | 'agent' | 'controller' | 'admin' | 'intruder', CertFiles>;
let otherCa: string;
let ctlNs: string;
let etcdNs: string;
const nodeNs: Record<string, string> = {};
const agents: Record<string, Daemon> = {};
let controller: Daemon | undefined;
/** Every CLI output of the run, for the secret scan. */
const outputs: { what: string; text: string }[] = [];

function tlsFlags(c: CertFiles, ca = pki.ca): string[] {
  return ['--etcd-endpoints', ETCD_URL, '--etcd-ca', ca, '--etcd-cert', c.cert, '--etcd-key', c.key, '--cluster', CLUSTER];
}

/** terracectl in the operator's namespace; output kept for the scan. */
async function ctl(args: readonly string[], opts: { flags?: string[]; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<RunResult> {
  const flags = opts.flags ?? [...tlsFlags(certs.admin), '--etcd-username', `terrace-admin-${CLUSTER}`, '--etcd-password', SECRETS.admin];
  const r = await runIn(ctlNs, process.execPath, [BIN.ctl, ...flags, ...args], { env: cleanEnv(opts.env), timeoutMs: 30000, ...(opts.input === undefined ? {} : { input: opts.input }) });
  outputs.push({ what: `terracectl ${args.join(' ')}`, text: r.stdout + r.stderr });
  return r;
}

async function mustCtl(args: readonly string[], opts: { input?: string } = {}): Promise<string> {
  const r = await ctl(args, opts);
  if (r.code !== 0) throw new Error(`terracectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** etcdctl over TLS in the operator's namespace as `user` (root unless told). */
async function etcdctl(args: readonly string[], user = `root:${SECRETS.root}`, extra: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  const env = cleanEnv({ ETCDCTL_API: '3', ETCDCTL_ENDPOINTS: ETCD_URL, ETCDCTL_CACERT: pki.ca, ETCDCTL_CERT: certs.admin.cert, ETCDCTL_KEY: certs.admin.key, ETCDCTL_USER: user, ...extra });
  const r = await runIn(ctlNs, 'etcdctl', args, { env, timeoutMs: 20000 });
  outputs.push({ what: `etcdctl ${args.join(' ')}`, text: r.stdout + r.stderr });
  return r;
}

function startAgent(node: (typeof NODES)[number], extra: string[] = [], env: NodeJS.ProcessEnv = {}): Daemon {
  const dir = join(tmp, node.name);
  return kit.startDaemon(nodeNs[node.name] as string, {
    name: `terrace-agent@${node.name}`,
    command: process.execPath,
    args: [
      BIN.agent,
      ...tlsFlags(certs.agent),
      '--node-name', node.name,
      '--node-ip', node.ip,
      ...(node.backend === 'bird' ? ['--bgp-backend', 'bird', '--bird-dir', join(dir, 'bird')] : []),
      '--cni-socket', join(dir, 'run', 'cni.sock'),
      '--cni-state-dir', join(dir, 'run', 'cni-state'),
      '--secrets-dir', join(dir, 'secrets'),
      '--lease-ttl', '3s',
      '--status-interval', '1s',
      '--log-format', 'json',
      '--log-level', 'debug',
      '--metrics-listen', 'off',
      ...extra,
    ],
    env: cleanEnv(env),
    keepOutput: 4_000_000,
  });
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'terrace-sec-'));
  pki = makePki(tmp, 'lab');
  certs = {
    server: pki.issue('etcd-server', { ips: [ETCD_IP], server: true }),
    agent: pki.issue('agent'),
    controller: pki.issue('controller'),
    admin: pki.issue('admin'),
    intruder: makePki(tmp, 'other').issue('intruder'),
  };
  otherCa = join(tmp, 'other-ca.pem');

  kit = await createLab({ tag: 'sec' });
  const fabric = await kit.addBridge();
  etcdNs = await kit.addNamespace('etcd');
  await kit.connect(etcdNs, fabric, `${ETCD_IP}/24`);
  ctlNs = await kit.addNamespace('ctl');
  await kit.connect(ctlNs, fabric, `${CTL_IP}/24`);
  for (const n of NODES) {
    nodeNs[n.name] = await kit.addNamespace(n.name.replace('sec-', ''));
    await kit.connect(nodeNs[n.name] as string, fabric, `${n.ip}/24`);
  }
  kit.startDaemon(etcdNs, {
    name: 'etcd',
    command: 'etcd',
    args: [
      '--name=sec',
      `--data-dir=${join(tmp, 'etcd')}`,
      `--listen-client-urls=${ETCD_URL}`,
      `--advertise-client-urls=${ETCD_URL}`,
      '--listen-peer-urls=http://127.0.0.1:2380',
      '--initial-advertise-peer-urls=http://127.0.0.1:2380',
      '--initial-cluster=sec=http://127.0.0.1:2380',
      `--cert-file=${certs.server.cert}`,
      `--key-file=${certs.server.key}`,
      `--trusted-ca-file=${pki.ca}`,
      '--client-cert-auth',
      '--log-level=error',
      '--logger=zap',
    ],
  });
  await waitUntil('etcd over TLS', async () => (await etcdctl(['endpoint', 'health'], '')).code === 0, 30000, 300);
  // Auth on: a root user first (etcd demands one), then the components' users from the script.
  for (const args of [['user', 'add', 'root', `--new-user-password=${SECRETS.root}`], ['role', 'add', 'root'], ['user', 'grant-role', 'root', 'root'], ['auth', 'enable']]) {
    const r = await etcdctl(args, '');
    if (r.code !== 0) throw new Error(`etcdctl ${args[0]} ${args[1]}: ${r.stderr}`);
  }
  const roles = await runIn(ctlNs, ROLES, [CLUSTER], {
    env: cleanEnv({
      ETCDCTL_ENDPOINTS: ETCD_URL, ETCDCTL_USER: `root:${SECRETS.root}`, ETCDCTL_CACERT: pki.ca, ETCDCTL_CERT: certs.admin.cert, ETCDCTL_KEY: certs.admin.key,
      AGENT_PASSWORD: SECRETS.agent, CONTROLLER_PASSWORD: SECRETS.controller, ADMIN_PASSWORD: SECRETS.admin,
    }),
  });
  outputs.push({ what: 'roles.sh', text: roles.stdout + roles.stderr });
  if (roles.code !== 0) throw new Error(`roles.sh: ${roles.stderr}`);
  const reader = await runIn(ctlNs, REMOTE_READER, [REMOTE, `reader-${CLUSTER}`], {
    env: cleanEnv({
      ETCDCTL_ENDPOINTS: ETCD_URL, ETCDCTL_USER: `root:${SECRETS.root}`, ETCDCTL_CACERT: pki.ca, ETCDCTL_CERT: certs.admin.cert, ETCDCTL_KEY: certs.admin.key,
      READER_PASSWORD: SECRETS.remote,
    }),
  });
  outputs.push({ what: 'remote-reader.sh', text: reader.stdout + reader.stderr });
  if (reader.code !== 0) throw new Error(`remote-reader.sh: ${reader.stderr}`);
  // The controller's --secrets-dir: the remote's credentials, one right and one wrong.
  for (const [name, password] of [['remote-etcd', SECRETS.remote], ['remote-wrong', SECRETS.remoteWrong]] as const) {
    const dir = join(tmp, 'controller-secrets', name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'username'), `reader-${CLUSTER}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'password'), `${password}\n`, { mode: 0o600 });
  }

  for (const n of NODES) {
    const dir = join(tmp, n.name, 'secrets', 'tor-md5');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'password'), SECRETS.md5, { mode: 0o600 });
  }
}, 120000);

/** Kills, by PID, whatever is still running in a namespace of this run (a speaker orphaned by a killed agent). */
async function killLeftovers(ns: string): Promise<void> {
  const { stdout } = await execPids(ns);
  for (const pid of stdout.split('\n').filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

afterAll(async () => {
  await controller?.stop(5000);
  for (const a of Object.values(agents)) await a.stop(8000);
  for (const ns of Object.values(nodeNs)) await killLeftovers(ns);
  await kit?.destroy();
  rmSync(tmp, { recursive: true, force: true });
  expect(await listNamespaces(kit.prefix)).toEqual([]);
}, 60000);

const POOL = `apiVersion: terrace.dev/v1
kind: IPPool
metadata: {name: sec-pool}
spec: {cidr: 198.18.96.0/24, blockSize: 28}
---
apiVersion: terrace.dev/v1
kind: BGPPeer
metadata: {name: tor}
spec:
  peerIP: 198.18.0.1
  asNumber: 65100
  password: {secretKeyRef: {name: tor-md5, key: password}}
  maxRestartTime: 0s
---
# Graceful restart off: the node killed below must leave the fabric at once,
# or the controller rightly holds its addresses while peers keep its routes.
apiVersion: terrace.dev/v1
kind: BGPConfiguration
metadata: {name: default}
spec:
  nodeMeshMaxRestartTime: 0s
`;
/** Two views of the remote prefix: one with the reader's credentials, one with a wrong password. */
function remoteClusters(): string {
  return ['remote-etcd', 'remote-wrong']
    .map((secretName) => `apiVersion: terrace.dev/v1
kind: RemoteCluster
metadata: {name: ${secretName === 'remote-etcd' ? 'rc' : 'rc-wrong'}}
spec:
  clusterName: ${REMOTE}
  staleAfter: 5s
  etcd:
    endpoints: [${ETCD_URL}]
    caFile: ${pki.ca}
    certFile: ${certs.controller.cert}
    keyFile: ${certs.controller.key}
    usernameSecretRef: {name: ${secretName}, key: username}
    passwordSecretRef: {name: ${secretName}, key: password}
`)
    .join('---\n');
}


describe('etcd with client certificates and one user per component', () => {
  it('terracectl (admin user) applies resources over https', async () => {
    expect(await mustCtl(['apply', '-f', '-'], { input: `${POOL}---\n${remoteClusters()}` })).toMatch(/ippool\/sec-pool created/i);
  }, 30000);

  it('the agents (agent user: password from the environment, and from a config file) register, hold a lease and publish status', async () => {
    const [gobgp, bird] = NODES;
    agents[gobgp.name] = startAgent(gobgp, ['--etcd-username', `terrace-agent-${CLUSTER}`], { TERRACE_ETCD_PASSWORD: SECRETS.agent });
    const conf = join(tmp, 'agent.yaml');
    writeFileSync(conf, `etcd:\n  username: terrace-agent-${CLUSTER}\n  password: ${SECRETS.agent}\n`, { mode: 0o600 });
    agents[bird.name] = startAgent(bird, ['--config', conf]);
    for (const n of NODES) {
      const a = agents[n.name] as Daemon;
      await waitUntil(`agent ${n.name} running`, () => {
        if (!a.running()) throw new Error(`agent ${n.name} exited: ${a.output().slice(-2000)}`);
        return a.output().includes('"serving CNI"') && a.output().includes('"agent running"');
      }, 60000, 200);
      await waitUntil(`status of ${n.name}`, async () => (await ctl(['node', 'status', n.name, '-o', 'json'])).stdout.includes('"routerId"'), 30000, 500);
      expect(await mustCtl(['get', 'node', n.name, '-o', 'json'])).toContain(`"ipv4Address": "${n.ip}/24"`);
      expect((await etcdctl(['get', '--keys-only', `/terrace/v1/${CLUSTER}/nodes/alive/${n.name}`])).stdout).toContain(n.name);
    }
  }, 150000);

  it('the controller (controller user, password by flag) wins the election and runs passes', async () => {
    controller = kit.startDaemon(ctlNs, {
      name: 'terrace-controller',
      command: process.execPath,
      args: [BIN.controller, ...tlsFlags(certs.controller), '--etcd-username', `terrace-controller-${CLUSTER}`, '--etcd-password', SECRETS.controller,
        '--node-grace', '2s', '--interval', '1s', '--lease-ttl', '3s', '--identity', 'sec-controller', '--secrets-dir', join(tmp, 'controller-secrets'),
        '--log-format', 'json', '--log-level', 'debug', '--metrics-listen', 'off'],
      env: cleanEnv(),
      keepOutput: 4_000_000,
    });
    await waitUntil('controller status', async () => {
      if (!controller?.running()) throw new Error(`controller exited: ${controller?.output().slice(-2000)}`);
      return /sec-controller/.test((await ctl(['controller', 'status', '-o', 'json'])).stdout);
    }, 60000, 500);
    // The remote view: connected with the reader's secret, refused with the wrong one (both from secret files).
    await waitUntil('remote cluster views', async () => {
      const out = (await ctl(['cluster', 'status', '-o', 'json'])).stdout;
      return /"connection": "Connected"/.test(out) && /"connection": "Unauthorized"/.test(out);
    }, 60000, 500);
  }, 90000);

  it('pods get addresses through CNI on both nodes (IPAM with the agent user), and DEL releases them', async () => {
    const cniPath = join(tmp, 'cni-bin');
    mkdirSync(cniPath, { recursive: true });
    symlinkSync(BIN.cni, join(cniPath, 'terrace'));
    for (const n of NODES) {
      const call = { nodeNs: nodeNs[n.name] as string, cniPath, agentSocket: join(tmp, n.name, 'run', 'cni.sock'), ipv4Pools: ['sec-pool'] };
      const pod = await addPodThroughCni(kit, `p-${n.name}`, call);
      outputs.push({ what: `CNI ADD on ${n.name}`, text: JSON.stringify(pod.out) });
      expect(JSON.stringify(pod.result)).toContain('198.18.96.');
      const keep = await addPodThroughCni(kit, `k-${n.name}`, call);
      outputs.push({ what: `CNI ADD on ${n.name}`, text: JSON.stringify(keep.out) });
      const del = await callCni({ ...call, command: 'DEL', containerId: pod.containerId, podNs: pod.ns });
      outputs.push({ what: `CNI DEL on ${n.name}`, text: JSON.stringify(del) });
      expect(del.code).toBe(0);
    }
    const check = await ctl(['ipam', 'check']);
    expect(check.code).toBe(0);
  }, 90000);

  it("the agent's user cannot write resources or the controller's keys", async () => {
    const agentUser = `terrace-agent-${CLUSTER}:${SECRETS.agent}`;
    const asAgent = [...tlsFlags(certs.agent), '--etcd-username', `terrace-agent-${CLUSTER}`, '--etcd-password', SECRETS.agent];
    const apply = await ctl(['apply', '-f', '-'], { flags: asAgent, input: POOL.replace('sec-pool', 'evil-pool').replace('198.18.96.0/24', '198.18.97.0/24').split('---')[0] as string });
    expect(apply.code).not.toBe(0);
    expect(apply.stderr.trim().split('\n')).toHaveLength(1);
    expect(apply.stderr).toContain(`etcd at ${ETCD_URL} denied access: etcdserver: permission denied`);
    for (const key of [`/terrace/v1/${CLUSTER}/resources/ippools/evil`, `/terrace/v1/${CLUSTER}/controller/leader`, `/terrace/v1/${CLUSTER}/controller/status`, `/terrace/v1/${CLUSTER}/guards/pools`, `/terrace/v1/other/ipam/blocks/x`]) {
      const r = await etcdctl(['put', key, '{}'], agentUser);
      expect({ key, out: r.stderr }).toEqual({ key, out: expect.stringContaining('permission denied') });
    }
    // What it may write (it allocates): the limit of the model, see docs/security.md.
    expect((await etcdctl(['put', `/terrace/v1/${CLUSTER}/nodes/status/probe`, '{}'], agentUser)).code).toBe(0);
    expect((await etcdctl(['del', `/terrace/v1/${CLUSTER}/nodes/status/probe`], agentUser)).code).toBe(0);
    expect((await ctl(['get', 'ippools'], { flags: asAgent })).stdout).toContain('sec-pool');
  }, 60000);

  it.each<[string, () => string[], string]>([
    ['no client certificate', () => ['--etcd-endpoints', ETCD_URL, '--etcd-ca', pki.ca, '--cluster', CLUSTER], 'TLS handshake failed: etcd refused our client certificate'],
    ['a certificate from another CA', () => tlsFlags(certs.intruder), 'TLS handshake failed: etcd refused our client certificate'],
    ["trusting another CA than etcd's", () => tlsFlags(certs.admin, otherCa), "TLS handshake failed: etcd's server certificate is signed by an unknown authority"],
    ['a wrong password', () => [...tlsFlags(certs.admin), '--etcd-username', `terrace-admin-${CLUSTER}`, '--etcd-password', SECRETS.wrong], 'refused the credentials'],
  ])('a client with %s is refused with one line naming the endpoint and why', async (_what, flags, why) => {
    const r = await ctl(['get', 'ippools'], { flags: flags() });
    expect(r.code).not.toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(ETCD_URL);
    expect(lines[0]).toContain(why);
  }, 30000);

  it('an agent whose CNI socket directory others can write refuses to start, with one line', async () => {
    const open = join(tmp, 'open-run');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const a = kit.startDaemon(ctlNs, {
      name: 'terrace-agent@open',
      command: process.execPath,
      args: [BIN.agent, ...tlsFlags(certs.agent), '--etcd-username', `terrace-agent-${CLUSTER}`, '--etcd-password', SECRETS.agent,
        // Its state directory is the run's too: were the check gone, it would start and serve.
        '--node-name', 'sec-open', '--node-ip', CTL_IP, '--cni-socket', join(open, 'cni.sock'), '--cni-state-dir', join(tmp, 'open-state'), '--log-format', 'json', '--metrics-listen', 'off'],
      env: cleanEnv(),
    });
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([a.exited, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), 30000)))]);
    clearTimeout(timer);
    const out = a.output();
    outputs.push({ what: 'agent with an open socket directory', text: out });
    if (!exit) await a.stop(3000);
    expect(exit?.code).not.toBe(0);
    expect(out).toContain(`cni socket directory ${open} is writable by group and others (mode 0777)`);
  }, 60000);

  it('the controller (its user) releases a dead node: GC writes IPAM', async () => {
    const [, bird] = NODES;
    const a = agents[bird.name] as Daemon;
    process.kill(a.pid, 'SIGKILL');
    await a.exited;
    // Its BIRD, orphaned, goes by PID.
    await killLeftovers(nodeNs[bird.name] as string);
    await waitUntil('dead node released', async () => (await etcdctl(['get', '--prefix', '--keys-only', `/terrace/v1/${CLUSTER}/ipam/affinity/${bird.name}/`])).stdout.trim() === '', 60000, 500);
    expect(controller?.output()).toContain('dead node released');
  }, 90000);
});

describe('no secret in any output', () => {
  it('the BIRD configuration that must hold the password is readable by root only', () => {
    expect(statSync(join(tmp, NODES[1].name, 'bird', 'bird.conf')).mode & 0o077).toBe(0);
  });

  it('logs, CLI output (-o yaml and json), status records and the whole cluster prefix hold none of the run\'s secrets', async () => {
    for (const kind of ['ippools', 'bgppeers', 'nodes', 'bgpconfigurations', 'ipamconfigs']) {
      for (const o of ['yaml', 'json']) await ctl(['get', kind, '-o', o]);
    }
    for (const n of NODES) {
      await ctl(['node', 'status', n.name, '-o', 'yaml']);
      await ctl(['node', 'status', n.name]);
    }
    await ctl(['controller', 'status', '-o', 'yaml']);
    await ctl(['cluster', 'status', '-o', 'yaml']);
    await ctl(['ipam', 'show']);
    await ctl(['version']);
    const dump = await etcdctl(['get', '--prefix', `/terrace/v1/${CLUSTER}/`]);
    expect(dump.stdout).toContain('/nodes/status/');
    const everything = [
      ...outputs,
      ...Object.entries(agents).map(([n, a]) => ({ what: `agent log ${n}`, text: a.output() })),
      { what: 'controller log', text: controller?.output() ?? '' },
    ];
    expect(everything.find((o) => o.what.startsWith('agent log'))?.text).toContain('"level":"debug"');
    const hits: string[] = [];
    for (const [name, value] of Object.entries(SECRETS)) {
      for (const o of everything) if (o.text.includes(value)) hits.push(`${name} in ${o.what}`);
    }
    expect(hits).toEqual([]);
  }, 90000);
});
